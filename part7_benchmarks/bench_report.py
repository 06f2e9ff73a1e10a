"""bench_report.py - what a run writes besides its charts.

report_text is report.md: the machine's facts, the servers skipped, and one
section per experiment with its notes, its table, every ratio against a
baseline from the same run, its chart, and the performance goals' verdicts.
It is pure: everything it says comes in as arguments. write_csvs writes one
CSV per experiment from the run's rows.
"""

import csv
import os

from bench_format import find, format_number, format_ratio, markdown_table
from bench_goals import completion_idle, completion_pairs, evaluate_goals
from bench_registry import BASELINE_SERVER, COMPLETION_SERVERS


def write_csvs(bench):
    for experiment, rows in bench.results.items():
        keys = []
        for row in rows:
            keys += [k for k in row if k not in keys]
        with open(os.path.join(bench.out_dir, f"{experiment}.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)


def report_text(facts, bench_results, notes, skipped, charts, started, elapsed, quick, command):
    """The Markdown report (pure: everything it says comes in as arguments)."""
    out = [f"# Benchmark report ({'quick' if quick else 'full'} run)", "",
           f"Started {started} UTC, took {elapsed:.0f} s. Command: `{command}`.", "",
           "Numbers from one run on one machine; a shared or virtual machine makes them noisy. "
           "Every ratio below is against a baseline measured in this same run.", "",
           "## Machine", "", markdown_table([{"k": k, "v": v} for k, v in facts.items()],
                                            [("fact", "k"), ("value", "v")]), ""]
    if skipped:
        out += ["## Servers skipped", ""]
        out += [f"- {s.name} (part {s.chapter}, {s.kind}): {reason}" for s, reason in skipped]
        out.append("")

    def section(title, experiment, body):
        rows = bench_results.get(experiment, [])
        out.extend([f"## {title}", ""])
        for line in notes.get(experiment, []):
            out.append(f"- {line}")
        if notes.get(experiment):
            out.append("")
        if not rows:
            out.extend(["No results.", ""])
            return
        out.extend([body(rows), ""])
        if experiment in charts:
            out.extend([f"![{title}]({charts[experiment]})", ""])

    def throughput_body(rows):
        text = []
        for protocol in dict.fromkeys(r["protocol"] for r in rows):
            base = find(rows, server=BASELINE_SERVER, protocol=protocol, connections=1, nodelay=False)
            base_rps = base["rps"] if base else None
            text.append(f"Protocol {protocol}; ratio against {BASELINE_SERVER}, 1 connection, "
                        f"nodelay off ({format_number(base_rps)} requests/s).\n")
            text.append(markdown_table([r for r in rows if r["protocol"] == protocol], [
                ("server", "server"), ("kind", "kind"), ("conns", "connections"),
                ("nodelay", "nodelay"), ("requests/s", "rps"),
                ("lowest, highest", lambda r: "n/a" if "rps_min" not in r else
                 f"{format_number(r['rps_min'])}, {format_number(r['rps_max'])}"),
                ("vs baseline", lambda r, b=base_rps: format_ratio(r["rps"], b)),
                ("p50 us", "p50_us"), ("p99 us", "p99_us"), ("max us", "max_us"),
                ("served conns", "connections_served"), ("errors", "errors"),
                ("server CPU s /10k req", "server_cpu_per_10k_s"),
                ("loadgen CPU s", "loadgen_cpu_s")]))
            text.append("")
        return "\n".join(text)

    def nagle_body(rows):
        text = []
        for link in dict.fromkeys(r["link"] for r in rows):
            group = [r for r in rows if r["link"] == link]
            base = find(group, protocol="shift", split_writes=False, nodelay=False)
            base_rps = base["rps"] if base else None
            text.append(f"{link}: ratio against one write, nodelay off, shift, on the same link "
                        f"({format_number(base_rps)} requests/s).\n")
            text.append(markdown_table(group, [
                ("link", "link"), ("protocol", "protocol"),
                ("writes", lambda r: "split" if r["split_writes"] else "one"),
                ("nodelay", "nodelay"), ("requests/s", "rps"),
                ("vs baseline", lambda r, b=base_rps: format_ratio(r["rps"], b)),
                ("p50 us", "p50_us"), ("p99 us", "p99_us"), ("errors", "errors")]))
            text.append("")
        return "\n".join(text)

    def backlog_body(rows):
        return markdown_table(rows, [
            ("server", "server"), ("backlog", "backlog"), ("clients", "connections"),
            ("served", "served"), ("% served", lambda r: f"{100 * r['success_rate']:.1f}"),
            ("refused", "refused"), ("timed out", "timed_out"), ("errors", "errors"),
            ("p50 s to serve", lambda r: format_number(r["p50_us"] / 1e6)),
            ("max s to serve", lambda r: format_number(r["max_us"] / 1e6))])

    def clients_body(rows):
        base = find(rows, client=rows[0]["client"], server=rows[0]["server"], connections=1, nodelay=False)
        base_n = base["requests"] if base else None
        return (f"Ratio against {rows[0]['client']} -> {rows[0]['server']}, 1 connection, nodelay off "
                f"({format_number(base_n)} requests).\n\n" + markdown_table(rows, [
                    ("client", "client"), ("server", "server"), ("conns", "connections"),
                    ("nodelay", "nodelay"), ("requests", "requests"), ("seconds", "seconds"),
                    ("requests/s", "rps"),
                    ("vs baseline", lambda r, b=base_n: format_ratio(r["requests"], b)),
                    ("errors", "errors"), ("server CPU s", "server_cpu_s")]))

    def chat_body(rows):
        text = []
        for strategy in dict.fromkeys(r["broadcast"] for r in rows):
            group = [r for r in rows if r["broadcast"] == strategy]

            def same_cell_global_lock(r):
                base = find(rows, broadcast="global-lock", backlog=r["backlog"], connections=r["connections"])
                return format_ratio(r["rps"], base["rps"] if base else None)

            text.append(f"{strategy}; deliveries/s ratio against global-lock with the same backlog "
                        "and clients.\n")
            text.append(markdown_table(group, [
                ("backlog", "backlog"), ("clients", "connections"),
                ("% joined", lambda r: f"{100 * r['join_success_rate']:.1f}"),
                ("deliveries/s", "rps"),
                ("vs global-lock", same_cell_global_lock),
                ("p50 us", "p50_us"), ("p99 us", "p99_us"),
                ("lost", "lost"), ("corrupt", "corrupt"), ("dropped", "clients_dropped"),
                ("server CPU s", "server_cpu_s")]))
            text.append("")
        return "\n".join(text)

    def goals_body(rows):
        verdicts = evaluate_goals(bench_results)
        met = sum(1 for v in verdicts if v["met"])
        text = [f"{met} of {len(verdicts)} checks met.\n",
                markdown_table(verdicts, [
                    ("goal", "goal"), ("subject", "subject"), ("measured", "measured"),
                    ("met", lambda v: "n/a" if v["met"] is None else ("yes" if v["met"] else "**no**"))]),
                "", "The round trips behind the first goal:\n",
                markdown_table(rows, [
                    ("server", "server"), ("protocol", "protocol"), ("bytes", "size"),
                    ("requests/s", "rps"), ("p50 us", "p50_us"), ("p99 us", "p99_us"),
                    ("errors", "errors")])]
        return "\n".join(text)

    def idle_body(rows):
        return markdown_table(rows, [
            ("server", "server"), ("kind", "kind"), ("connections", "connections"),
            ("held", "held"), ("greeted", "ready"), ("RSS before KiB", "rss_kib_before"), ("RSS KiB", "rss_kib"),
            ("KiB / conn", "kib_per_connection"), ("threads before", "threads_before"),
            ("threads", "threads"), ("threads / conn", "threads_per_connection")])

    def scaling_body(rows):
        text = []
        cpu_rows = [r for r in bench_results.get("throughput", [])
                    if r["protocol"] == "shift" and r["connections"] == 10 and not r["nodelay"]]
        if cpu_rows:
            text.append("CPU time (user + sys) per 10,000 requests, per design: shift, 10 "
                        "connections, nodelay off, from experiment 1.\n")
            text.append(markdown_table(cpu_rows, [
                ("server", "server"), ("kind", "kind"), ("requests/s", "rps"),
                ("server CPU s /10k req", "server_cpu_per_10k_s"),
                ("loadgen CPU s", "loadgen_cpu_s")]))
            text.append("")
        for server in dict.fromkeys(r["server"] for r in rows):
            group = [r for r in rows if r["server"] == server]
            base = find(group, server_threads=1)
            base_rps = base["rps"] if base else None
            text.append(f"{server}; ratio against --threads 1 ({format_number(base_rps)} requests/s).\n")
            text.append(markdown_table(group, [
                ("--threads", "server_threads"), ("requests/s", "rps"),
                ("vs 1 thread", lambda r, b=base_rps: format_ratio(r["rps"], b)),
                ("p50 us", "p50_us"), ("p99 us", "p99_us"), ("served conns", "connections_served"),
                ("server CPU s /10k req", "server_cpu_per_10k_s")]))
            text.append("")
        return "\n".join(text)

    def completion_body(rows):
        base_name, name = COMPLETION_SERVERS
        points = [{"protocol": protocol, "connections": connections,
                   "base_rps": (base or {}).get("rps"), "rps": (mine or {}).get("rps"),
                   "base_cpu": (base or {}).get("server_cpu_per_10k_median_s"),
                   "cpu": (mine or {}).get("server_cpu_per_10k_median_s")}
                  for protocol, connections, base, mine in completion_pairs(rows)]
        text = [f"requests/s: the round with the median rate; CPU: server CPU seconds (user + sys) per "
                f"10,000 requests, the median over the rounds; each ratio is {name} over {base_name} "
                "at the same point, from the same rounds.\n",
                markdown_table(points, [
                    ("protocol", "protocol"), ("connections", "connections"),
                    ("epoll req/s", "base_rps"), ("completion req/s", "rps"),
                    ("ratio completion/epoll", lambda p: format_ratio(p["rps"], p["base_rps"])),
                    ("epoll CPU s/10k", "base_cpu"), ("completion CPU s/10k", "cpu"),
                    ("CPU ratio", lambda p: format_ratio(p["cpu"], p["base_cpu"]))]),
                ""]
        idle = completion_idle(bench_results.get("completion_idle", []))
        if not idle:
            text.append("Idle memory: no results.")
        else:
            count, base_kib, mine_kib = idle
            difference = (None if base_kib is None or mine_kib is None else
                          f"{'+' if mine_kib >= base_kib else ''}{format_number(mine_kib - base_kib)}")
            text.append(f"Idle memory, {count} idle connections: {base_name} "
                        f"{format_number(base_kib)} KiB per connection, {name} "
                        f"{format_number(mine_kib)} KiB per connection, difference "
                        f"{difference or 'n/a'} KiB ({name} minus {base_name}).")
        return "\n".join(text)

    section("Performance goals", "goals", goals_body)
    section("1a. Throughput per design", "throughput", throughput_body)
    section("1b. Client x server: requests per run", "clients", clients_body)
    section("2. Nagle's algorithm and delayed ACKs", "nagle", nagle_body)
    section("3a. Listen backlog under bursts", "backlog", backlog_body)
    section("3b. Chat: clients x backlog x broadcast strategy", "chat", chat_body)
    section("4. Memory and threads per idle connection", "idle", idle_body)
    section("5. Scaling the pool, and CPU per request", "scaling", scaling_body)
    section("6. Completion against readiness (pinned)", "completion", completion_body)
    out.append("Raw results: results.jsonl (one loadgen result per line) and one CSV per experiment.")
    return "\n".join(out) + "\n"
