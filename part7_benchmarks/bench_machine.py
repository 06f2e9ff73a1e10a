"""bench_machine.py - the facts about the machine that the report states.

machine_facts: CPU model and count, memory, kernel, the runner's open-file
limit, and every TCP setting in TCP_SETTINGS (the ones that change the
results: somaxconn, the SYN backlog, syncookies, ...), read from /proc;
read_sysctl reads one of them (the experiments quote somaxconn too).
"""

import os
import platform
import resource


def read_sysctl(name):
    try:
        with open(f"/proc/sys/{name}") as f:
            return f.read().strip().replace("\t", " ")
    except OSError:
        return "unknown"


TCP_SETTINGS = [
    "net/core/somaxconn", "net/ipv4/tcp_max_syn_backlog", "net/ipv4/tcp_syncookies",
    "net/ipv4/tcp_abort_on_overflow", "net/ipv4/tcp_synack_retries", "net/ipv4/tcp_syn_retries",
    "net/ipv4/tcp_rmem", "net/ipv4/tcp_wmem", "net/ipv4/tcp_congestion_control",
    "net/ipv4/tcp_autocorking", "net/ipv4/tcp_fin_timeout", "net/ipv4/ip_local_port_range",
    "net/ipv4/tcp_tw_reuse",
]


def machine_facts():
    model, cpus = "unknown", os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) // 1024} MiB"
    except (OSError, ValueError, IndexError):
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    facts = {"CPU model": model, "CPUs": str(cpus), "memory": mem,
             "kernel": f"{platform.system()} {platform.release()}",
             "RLIMIT_NOFILE (runner)": f"{soft} soft, {hard} hard"}
    for name in TCP_SETTINGS:
        facts[name.replace("/", ".")] = read_sysctl(name)
    return facts
