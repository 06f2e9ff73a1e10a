"""bench_experiments.py - the experiments, each a method of Bench.

Bench holds one run's settings and results: it records every result (to
results.jsonl as it goes), keeps the notes the report prints beside each
table, and runs loadgen and the chapters' clients against servers it starts
through bench_processes. EXPERIMENTS names the methods bench.py may run, in
their order; median_round, median_value, median_round_and_cpu and
cpu_per_10k are the pure arithmetic the experiments apply to what they
measured, and pin_prefixes the pure choice of how experiment 6 pins its two
processes.
"""

import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import time

from bench_format import log
from bench_goals import GOAL_SIZES
from bench_machine import read_sysctl
from bench_processes import (OPEN_FILES_WANTED, RunningServer, VethPair, cpu_seconds, line_reader,
                             memory_and_threads, raise_open_files)
from bench_registry import COMPLETION_SERVERS, MATRIX_SERVERS, Server, echo_servers

IDLE_READY_TIMEOUT = 120   # seconds for loadgen idle to open every connection
THROUGHPUT_ROUNDS = 3      # full run: rounds of experiment 1 (the median is reported)
CHAT_SENDERS = 10          # chat grid: clients that send ...
CHAT_RATE = 10             # ... this many messages per second each
CHAT_JOIN_S = 1.0          # chat grid: seconds a client has to get into the room
COMPLETION_ROUNDS = 5      # full run: rounds of experiment 6 (the median is reported)
SERVER_CPU, LOADGEN_CPU = 0, 1  # experiment 6: the CPUs the server and loadgen are pinned to

# The names of the experiment methods of Bench, in the order a run calls them
# (bench.py offers them to --only).
EXPERIMENTS = ["throughput", "nagle", "backlog", "idle", "scaling", "completion", "goals"]


def median_round(results):
    """Of several rounds of one measurement, the round with the median
    requests per second (the lower middle one for an even count), with
    rps_min, rps_max and rounds added."""
    ordered = sorted(results, key=lambda r: r["rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen.pop("round", None)
    chosen.update(rps_min=ordered[0]["rps"], rps_max=ordered[-1]["rps"], rounds=len(ordered))
    return chosen


def median_value(values):
    """The median of the values that are not None (the lower middle one for
    an even count, as median_round picks, so that it is a value some round
    measured), or None when there is none."""
    present = sorted(v for v in values if v is not None)
    return present[(len(present) - 1) // 2] if present else None


def median_round_and_cpu(results):
    """median_round, plus server_cpu_per_10k_median_s: the median of the
    rounds' server CPU seconds per 10,000 requests, taken over the rounds on
    its own. The round with the median rate need not be the round with the
    median CPU cost, and a single round's CPU reading is as noisy as its
    rate; the median round keeps its own server_cpu_per_10k_s beside it."""
    chosen = median_round(results)
    chosen["server_cpu_per_10k_median_s"] = median_value(
        [r.get("server_cpu_per_10k_s") for r in results])
    return chosen


def pin_prefixes(allowed_cpus, taskset):
    """How experiment 6 starts its server and loadgen: (server prefix,
    loadgen prefix, None) with `taskset -c SERVER_CPU` and `taskset -c
    LOADGEN_CPU` when the runner may use both CPUs and `taskset` (its path,
    or None) exists; else ((), (), why not), and the experiment runs
    unpinned and says so. Pinning keeps the two processes off each other's
    core, so the comparison is of the servers' own cost per request and not
    of where the scheduler happened to put them."""
    if taskset is None:
        return (), (), "taskset is not installed (util-linux)"
    missing = [cpu for cpu in (SERVER_CPU, LOADGEN_CPU) if cpu not in allowed_cpus]
    if missing:
        return (), (), (f"the runner may not use CPU {', '.join(map(str, missing))} "
                        f"(it may use {len(allowed_cpus)}: {sorted(allowed_cpus)})")
    return (taskset, "-c", str(SERVER_CPU)), (taskset, "-c", str(LOADGEN_CPU)), None


def cpu_per_10k(cpu_seconds, requests):
    """Server CPU seconds per 10,000 requests, or None without requests."""
    if not requests:
        return None
    return cpu_seconds * 10000.0 / requests


class Bench:
    """Holds the run's settings and output; each experiment is a method."""

    def __init__(self, build_dir, loadgen, out_dir, quick, clients=()):
        self.build_dir = build_dir
        self.clients = list(clients)  # Client entries present in the build
        self.loadgen = loadgen
        self.out_dir = out_dir
        self.quick = quick
        self.results = {}  # experiment -> list of rows
        self.notes = {}    # experiment -> list of lines for the report
        self.jsonl = open(os.path.join(out_dir, "results.jsonl"), "w")

    def record(self, experiment, row):
        row = {"experiment": experiment, **row}
        self.results.setdefault(experiment, []).append(row)
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()

    def note(self, experiment, text):
        self.notes.setdefault(experiment, []).append(text)
        log(f"{experiment}: {text}")

    def run_loadgen(self, args, timeout, prefix=()):
        argv = [*prefix, self.loadgen, *map(str, args), "--quiet"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                preexec_fn=raise_open_files)
        lines = result.stdout.strip().splitlines()
        if result.returncode != 0 or not lines:
            raise RuntimeError(f"loadgen failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        return json.loads(lines[-1])

    def measured_pingpong(self, server, protocol, loadgen_args, seconds, warmup, extra=(),
                          server_prefix=(), loadgen_prefix=()):
        """Starts `server`, runs one pingpong against it, and returns the
        loadgen result plus the server's CPU seconds during the run.
        The prefixes run either under another command (ip netns exec NS)."""
        with RunningServer(self.build_dir, server, protocol, extra, server_prefix) as running:
            before = cpu_seconds(running.pid)
            result = self.run_loadgen(
                ["pingpong", "--port", running.port, "--protocol", protocol,
                 "--seconds", seconds, "--warmup", warmup, *loadgen_args],
                timeout=seconds + warmup + 60, prefix=loadgen_prefix)
            result["server_cpu_s"] = cpu_seconds(running.pid) - before
        result["server_cpu_per_10k_s"] = cpu_per_10k(result["server_cpu_s"], result["requests"])
        return result

    # --- experiment 1 ---------------------------------------------------------

    def throughput(self, servers):
        """Closed-loop pingpong, 64-byte requests: shift at 1, 10 and 100
        connections with nodelay off and on, framed at 1 and 10 with nodelay
        off; then the chapters' own clients against the Asio and Qt servers.

        A full run measures every point THROUGHPUT_ROUNDS times, one round
        over all servers after another (so a noisy minute on a shared machine
        hits every design a little, not one design a lot), and reports the
        round with the median requests per second, with the lowest and
        highest beside it."""
        seconds, warmup = (1.0, 0.3) if self.quick else (3.0, 0.5)
        rounds = 1 if self.quick else THROUGHPUT_ROUNDS
        shapes = [("shift", c, nd) for c in (1, 10, 100) for nd in (False, True)]
        if self.quick:
            shapes = [("shift", c, nd) for c in (1, 10) for nd in (False, True)]
        else:
            shapes += [("framed", c, False) for c in (1, 10)]
        points = [(server, protocol, connections, nodelay)
                  for server in echo_servers(servers)
                  for protocol, connections, nodelay in shapes if protocol in server.protocols]
        measured = {point: [] for point in points}
        for round_number in range(1, rounds + 1):
            for point in points:
                server, protocol, connections, nodelay = point
                args = ["-c", connections, "--size", 64]
                if connections > 1:
                    args += ["--threads", 2]
                if nodelay:
                    args.append("--nodelay")
                try:
                    r = self.measured_pingpong(server, protocol, args, seconds, warmup)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    self.note("throughput", f"{server.name} {protocol} c={connections} "
                              f"round {round_number}: {error}")
                    continue
                r = {"server": server.name, "kind": server.kind, "chapter": server.chapter,
                     "round": round_number, **r}
                self.record("throughput_rounds", r)
                measured[point].append(r)
        for point in points:
            if measured[point]:
                self.record("throughput", median_round(measured[point]))
        self.note("throughput", f"each run: {warmup} s warm-up, then {seconds} s measured; "
                  f"{rounds} round(s), the median shown; 64-byte payloads; loadgen with 2 threads "
                  "from 10 connections on")
        self.client_matrix(servers)

    def client_matrix(self, servers):
        """The chapters' own clients x the Asio and Qt servers, framed, in
        the manner of the published "requests in 10 seconds" tables."""
        seconds = 2.0 if self.quick else 10.0
        targets = [s for s in servers if s.name in MATRIX_SERVERS]
        if self.quick:
            targets = [s for s in targets if s.name in ("asio-server", "qt-server")]
        if not self.clients or not targets:
            self.note("clients", "skipped: the Asio and Qt clients or servers are not built")
            return
        for client in self.clients:
            for server in targets:
                for connections in (1, 10):
                    for nodelay in (False, True):
                        try:
                            r = self.client_run(client, server, connections, nodelay, seconds)
                        except (RuntimeError, subprocess.TimeoutExpired) as error:
                            self.note("clients", f"{client.name} -> {server.name} c={connections}: {error}")
                            continue
                        self.record("clients", {"client": client.name, "server": server.name,
                                                "connections": connections, "nodelay": nodelay,
                                                "requests": r["requests"],
                                                "rps": r["requests_per_second"],
                                                "errors": r["errors"], "seconds": r["seconds"],
                                                "server_cpu_s": r["server_cpu_s"]})
        self.note("clients", f"framed, 64-byte payloads, {seconds} s per run, no warm-up (as the "
                  "published benchmark counts); each client process opens --clients connections")

    def client_run(self, client, server, connections, nodelay, seconds):
        with RunningServer(self.build_dir, server, "framed") as running:
            before = cpu_seconds(running.pid)
            argv = [os.path.join(self.build_dir, client.path), str(running.port),
                    "--protocol", "framed", "--clients", str(connections), "--seconds", str(seconds),
                    "--payload-bytes", "64"]
            if nodelay:
                argv.append("--nodelay")
            result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
            server_cpu = cpu_seconds(running.pid) - before
        lines = result.stdout.strip().splitlines()
        if not lines:
            raise RuntimeError(f"{client.name} printed no result ({result.returncode}): "
                               f"{result.stderr.strip()[-300:]}")
        r = json.loads(lines[-1])
        r["server_cpu_s"] = server_cpu
        return r

    # --- experiment 2 ---------------------------------------------------------

    def nagle(self, servers):
        seconds, warmup = (1.0, 0.2) if self.quick else (3.0, 0.5)
        server = next((s for s in servers if s.name == "threaded-server"), None)
        if server is None:
            self.note("nagle", "skipped: threaded-server is not built")
            return
        self.nagle_matrix(server, "loopback", seconds, warmup)
        try:
            with VethPair() as veth:
                self.nagle_matrix(server, "veth", seconds, warmup, veth)
            self.note("nagle", f"veth: the server in network namespace {veth.server_ns} "
                      f"({VethPair.server_address}), loadgen in {veth.client_ns}, joined by a veth "
                      "pair; both namespaces were created for this run and removed after it")
        except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
            self.note("nagle", f"the two-namespace (veth) variant could not run: {error}; "
                      "only loopback was measured (it needs root and iproute2)")

    def nagle_matrix(self, server, link, seconds, warmup, veth=None):
        for protocol in ("shift", "framed"):
            for split in (False, True):
                for nodelay in (False, True):
                    args = ["-c", 1, "--size", 64]
                    if split:
                        args.append("--split-writes")
                    if nodelay:
                        args.append("--nodelay")
                    if veth is None:
                        r = self.measured_pingpong(server, protocol, args, seconds, warmup)
                    else:
                        r = self.measured_pingpong(
                            server, protocol, args + ["--host", VethPair.server_address], seconds, warmup,
                            ("--host", VethPair.server_address),
                            server_prefix=("ip", "netns", "exec", veth.server_ns),
                            loadgen_prefix=("ip", "netns", "exec", veth.client_ns))
                    self.record("nagle", {"server": server.name, "link": link, **r})

    # --- experiment 3 ---------------------------------------------------------

    def backlog(self, servers):
        timeout = 3.0
        if self.quick:
            clients_list, backlogs = (200, 1000), (10, 128)
        else:
            clients_list, backlogs = (100, 400, 1000), (10, 128)
        for server in echo_servers(servers):
            if server.kind not in ("sequential", "threads", "pool") and self.quick:
                continue
            if self.quick and server.name == "pthread-server":
                continue
            for backlog in backlogs:
                for clients in clients_list:
                    try:
                        with RunningServer(self.build_dir, server, "shift",
                                           ("--backlog", str(backlog))) as running:
                            r = self.run_loadgen(["burst", "--port", running.port, "-c", clients,
                                                  "--timeout", timeout], timeout=timeout + 60)
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("backlog", f"{server.name} backlog={backlog} clients={clients}: {error}")
                        continue
                    self.record("backlog", {"server": server.name, "backlog": backlog, **r})
        self.note("backlog", f"each client: connect, wait for the greeting, one 64-byte request; "
                  f"served within {timeout} s counts; the kernel caps the backlog at "
                  f"net.core.somaxconn ({read_sysctl('net/core/somaxconn')})")
        self.chat_strategies(servers)

    def chat_strategies(self, servers):
        """The chat grid: clients x listen backlog x broadcast strategy. All
        clients connect at once; those not in the room within CHAT_JOIN_S
        count as failed (the success rate), the others chat (the throughput:
        deliveries per second, with CHAT_SENDERS sending CHAT_RATE msg/s each,
        so the offered load grows with the room)."""
        server = next((s for s in servers if s.kind == "chat"), None)
        if server is None:
            self.note("chat", "skipped: chat-server is not built")
            return
        if self.quick:
            seconds, warmup, clients_list, backlogs = 1.0, 0.3, (50, 400), (10, 128)
        else:
            seconds, warmup = 3.0, 0.5
            clients_list, backlogs = (50, 100, 200, 300, 400), (10, 50, 128, 300)
        for strategy in ("global-lock", "snapshot", "queue"):
            for backlog in backlogs:
                for clients in clients_list:
                    try:
                        with RunningServer(self.build_dir, server, "chat",
                                           ("--broadcast", strategy, "--backlog", str(backlog))) as running:
                            before = cpu_seconds(running.pid)
                            r = self.run_loadgen(
                                ["chat", "--port", running.port, "-c", clients,
                                 "--senders", CHAT_SENDERS, "--rate", CHAT_RATE, "--size", 128,
                                 "--seconds", seconds, "--warmup", warmup, "--drain", 2,
                                 "--join-timeout", CHAT_JOIN_S],
                                timeout=seconds + warmup + CHAT_JOIN_S + 60)
                            r["server_cpu_s"] = cpu_seconds(running.pid) - before
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("chat", f"{strategy} backlog={backlog} clients={clients}: {error}")
                        continue
                    self.record("chat", {"server": server.name, "broadcast": strategy,
                                         "backlog": backlog, **r})
        self.note("chat", f"{CHAT_SENDERS} senders x {CHAT_RATE} msg/s of 128 bytes, {warmup} s "
                  f"warm-up + {seconds} s measured; a client not in the room {CHAT_JOIN_S} s after "
                  "the burst began counts as failed (1 s is also Linux's first SYN retransmission, "
                  "so a client whose SYN met a full queue misses it)")

    # --- experiment 4 ---------------------------------------------------------

    def idle(self, servers):
        counts = (1000,) if self.quick else (1000, 10000)
        for server in echo_servers(servers):
            for count in counts:
                row = self.idle_measured("idle", server, count)
                if row is not None:
                    self.record("idle", row)

    def idle_measured(self, experiment, server, count):
        """idle_one, or None with a note under `experiment` when the
        open-file limit cannot hold `count` connections or the measurement
        fails. Experiments 4 and 6 both measure idle memory through it, so
        that their numbers are measured the same way."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if count + 100 > min(hard, OPEN_FILES_WANTED):
            self.note(experiment, f"{count} connections skipped: the open-file hard limit is {hard}")
            return None
        try:
            return self.idle_one(server, count)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            self.note(experiment, f"{server.name} {count}: {error}")
            return None

    def idle_one(self, server, count):
        # The largest backlog the kernel allows, so that the clients the
        # server is slow to accept wait in it instead of being lost.
        backlog = read_sysctl("net/core/somaxconn")
        extra = ("--backlog", backlog) if backlog.isdigit() else ()
        with RunningServer(self.build_dir, server, "shift", extra) as running:
            time.sleep(0.2)  # let it settle after start-up
            rss0, threads0 = memory_and_threads(running.pid)
            loadgen = subprocess.Popen(
                [self.loadgen, "idle", "--port", str(running.port), "-c", str(count),
                 "--seconds", "0", "--connect-timeout", "10"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                preexec_fn=raise_open_files)
            stderr = line_reader(loadgen.stderr)
            deadline = time.monotonic() + IDLE_READY_TIMEOUT
            ready = False
            while time.monotonic() < deadline:
                try:
                    line = stderr.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if line is None:
                    break
                if "ready: holding" in line:
                    ready = True
                    break
            if ready:
                time.sleep(0.5)  # threads started for the last clients reach their recv
                rss, threads = memory_and_threads(running.pid)
            loadgen.send_signal(signal.SIGTERM)
            out, _ = loadgen.communicate(timeout=60)
            if not ready:
                raise RuntimeError("loadgen idle never reported ready")
            result = json.loads(out.strip().splitlines()[-1])
        held = result["held_at_end"]
        return {"server": server.name, "kind": server.kind, "connections": count,
                "held": held, "ready": result["ready"],
                "connect_failures": result["connect_failures"],
                "rss_kib_before": rss0, "rss_kib": rss, "threads_before": threads0,
                "threads": threads,
                "kib_per_connection": (rss - rss0) / held if held else None,
                "threads_per_connection": (threads - threads0) / held if held else None}

    # --- experiment 5 ---------------------------------------------------------

    def scaling(self, servers):
        seconds, warmup = (1.0, 0.3) if self.quick else (4.0, 1.0)
        thread_counts = (1, 2, 4) if self.quick else (1, 2, 4, 8, 16)
        for server in echo_servers(servers):
            if not server.threads_option:
                continue
            base = [a for i, a in enumerate(server.args)
                    if a != "--threads" and (i == 0 or server.args[i - 1] != "--threads")]
            plain = Server(server.name, server.chapter, server.path, server.kind,
                           server.protocols, tuple(base), True)
            for threads in thread_counts:
                r = self.measured_pingpong(plain, "shift", ["-c", 16, "--threads", 2, "--nodelay"],
                                           seconds, warmup, ("--threads", str(threads)))
                self.record("scaling", {"server": server.name, "server_threads": threads, **r})
        self.note("scaling", "16 connections, nodelay, 64-byte shift requests; "
                  "a pool of T threads serves T connections at a time, the rest wait in its queue")


    # --- experiment 6 ---------------------------------------------------------

    def completion(self, servers):
        """The completion-port framework's server against epoll-server, side
        by side: closed-loop pingpong with 16-byte requests, shift and
        framed, at 1, 10 and 100 connections, nodelay off, both servers with
        their default settings; then the memory per idle connection of both.

        The server is pinned to one CPU and loadgen (one thread) to another
        (pin_prefixes), so that neither steals the other's core and the
        server's CPU per request is its own. In each round every shape is
        measured on epoll-server and then on completion-server back to back,
        so a noisy moment hits both sides of a ratio; the report shows the
        round with the median rate and, taken on its own over the rounds,
        the median CPU per request."""
        chosen = [next((s for s in servers if s.name == name), None) for name in COMPLETION_SERVERS]
        missing = [name for name, s in zip(COMPLETION_SERVERS, chosen) if s is None]
        if missing:
            self.note("completion", f"skipped: {' and '.join(missing)} not built")
            return
        seconds, warmup = (1.0, 0.3) if self.quick else (3.0, 0.5)
        rounds = 1 if self.quick else COMPLETION_ROUNDS
        idle_count = 1000 if self.quick else 10000
        server_prefix, loadgen_prefix, unpinned = pin_prefixes(os.sched_getaffinity(0),
                                                               shutil.which("taskset"))
        if unpinned is None:
            self.note("completion", f"pinned with taskset: the server to CPU {SERVER_CPU} (taskset -c "
                      f"{SERVER_CPU}), loadgen with --threads 1 to CPU {LOADGEN_CPU} (taskset -c {LOADGEN_CPU})")
        else:
            self.note("completion", f"not pinned: {unpinned}; the server and loadgen (--threads 1) "
                      "shared the CPUs as the scheduler chose")
        shapes = [(protocol, c) for protocol in ("shift", "framed") for c in (1, 10, 100)]
        measured = {(server.name, *shape): [] for shape in shapes for server in chosen}
        for round_number in range(1, rounds + 1):
            for protocol, connections in shapes:
                for server in chosen:
                    args = ["-c", connections, "--size", 16, "--threads", 1]
                    try:
                        r = self.measured_pingpong(server, protocol, args, seconds, warmup,
                                                   server_prefix=server_prefix,
                                                   loadgen_prefix=loadgen_prefix)
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("completion", f"{server.name} {protocol} c={connections} "
                                  f"round {round_number}: {error}")
                        continue
                    r = {"server": server.name, "kind": server.kind, "round": round_number,
                         "pinned": unpinned is None, "protocol": protocol,
                         "connections": connections, **r}
                    self.record("completion_rounds", r)
                    measured[(server.name, protocol, connections)].append(r)
        for results in measured.values():
            if results:
                self.record("completion", median_round_and_cpu(results))
        self.note("completion", f"16-byte requests, nodelay off, both servers with their default "
                  f"settings; each run {warmup} s warm-up, then {seconds} s measured; {rounds} round(s), "
                  "each shape on epoll-server then completion-server back to back; the median round "
                  "shown, and the median CPU over the rounds")
        for server in chosen:
            row = self.idle_measured("completion", server, idle_count)
            if row is not None:
                self.record("completion_idle", row)
        self.note("completion", f"idle memory: {idle_count} idle connections, measured as experiment 4 "
                  "measures it (not pinned)")

    # --- the goals' own measurement --------------------------------------------

    def goals(self, servers):
        """One connection, nodelay off, default configuration, 16- and
        1024-byte requests in both protocols: the delayed-ACK stall shows as
        a p50 round trip of tens of milliseconds."""
        seconds, warmup = (0.5, 0.2) if self.quick else (2.0, 0.5)
        for server in echo_servers(servers):
            for protocol in server.protocols:
                for size in GOAL_SIZES:
                    try:
                        r = self.measured_pingpong(server, protocol, ["-c", 1, "--size", size],
                                                   seconds, warmup)
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("goals", f"{server.name} {protocol} {size} B: {error}")
                        continue
                    self.record("goals", {"server": server.name, "kind": server.kind, **r})
        self.note("goals", f"1 connection, nodelay off, {warmup} s warm-up + {seconds} s")
