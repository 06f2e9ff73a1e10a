"""bench_experiments.py - the experiments, each a method of Bench.

Bench holds one run's settings and results: it records every result (to
results.jsonl as it goes), keeps the notes the report prints beside each
table, and runs loadgen and the chapters' clients against servers it starts
through bench_processes. EXPERIMENTS names the methods bench.py may run, in
their order; median_round, median_value, median_round_and_cpu,
median_round_and_latency, cpu_per_10k, work_ceiling, fewest_served,
chat_peak and generator_busy are the pure arithmetic the experiments, the
report and the charts apply to what they measured, and pin_prefixes the
pure choice of how experiments 6
and 7 pin their two processes (Bench.pinned_rounds, the measurement both
share); help_default, design_limit and burst_summary read the burst check's
servers and sum up its rounds.
"""

import dataclasses
import json
import os
import re
import resource
import shutil
import subprocess
import time

from bench_format import log
from bench_goals import GOAL_BURST_CLIENTS, GOAL_BURST_SECONDS, GOAL_CHAT_HOLD, GOAL_SIZES
from bench_machine import read_sysctl
from bench_processes import (OPEN_FILES_WANTED, IdleClients, RunningServer, VethPair, cpu_seconds,
                             memory_and_threads, raise_open_files)
from bench_registry import (COMPLETION_SERVERS, IDLE_LATENCY_SERVERS, LIMITED_KINDS, MATRIX_SERVERS,
                            PERCORE_BASELINE, PERCORE_ONE_THREAD, PUBLISHED_PAIRS, Server, echo_servers)

IDLE_READY_TIMEOUT = 120   # seconds for loadgen idle to open every connection
THROUGHPUT_ROUNDS = 3      # full run: rounds of experiment 1 (the median is reported)
# The chat grid (experiment 3b): the published chatroom grid's axes (clients
# from 50 to 500, listen backlog from 10 to 300; 325 is where its global lock
# peaked) for each broadcast strategy, at a load that saturates the room:
# every client in it sends in a closed loop (loadgen chat --senders 0
# --in-flight CHAT_IN_FLIGHT), so the room runs as fast as the server
# delivers. One message on its way per client puts up to N messages inside
# the server at once, each to be written N - 1 times, more than any strategy
# clears between two of them; and it bounds what waits for one member at
# N - 1 frames, under the queue strategy's default bound (CHAT_QUEUE_FRAMES),
# so that no member is dropped by the load alone.
CHAT_STRATEGIES = ("global-lock", "snapshot", "queue")
CHAT_CLIENTS = (50, 100, 200, 325, 400, 500)
CHAT_BACKLOGS = (10, 128, 300)
CHAT_QUICK_CLIENTS = (50, 200, 500)
CHAT_QUICK_BACKLOGS = (10, 300)
CHAT_IN_FLIGHT = 1
CHAT_QUEUE_FRAMES = 1024   # chat-server's default --queue-frames (part2_threads/chat/chat_room.hpp)
CHAT_SIZE = 128            # bytes per message
CHAT_JOIN_S = 1.0          # seconds a client has to get into the room
# loadgen --drain: how long a message may take to reach everyone before its
# sender gives it up (it then counts as lost), and how long the end of a run
# waits for the last deliveries. At saturation a delivery waits behind every
# message already in the server, about a second at 500 clients: ten leave
# room for a slow machine, and cost nothing unless a message is lost.
CHAT_PATIENCE_S = 10.0
# How chat_peak names what follows a peak: "holds" while the lowest
# throughput beyond it stays at or above CHAT_FLAT_SHARE of the peak (the
# chat goal's share: a cell measured once varies by about a fifth between
# runs), "collapses" below CHAT_COLLAPSE_SHARE (less than half its peak: more
# than any noise), "falls" in between.
CHAT_FLAT_SHARE = GOAL_CHAT_HOLD
CHAT_COLLAPSE_SHARE = 0.5
# generator_busy at or above this: loadgen (one thread) was on the CPU for
# nearly the whole measured window, so the rate may be its limit.
CHAT_GENERATOR_BUSY = 0.9
BURST_ROUNDS = 3           # full run: rounds of the burst check (lowest, median, highest reported)
COMPLETION_ROUNDS = 5      # full run: rounds of experiment 6 (the median is reported)
SERVER_CPU, LOADGEN_CPU = 0, 1  # experiments 6 and 7: the CPUs the server and loadgen are pinned to
PERCORE_ROUNDS = 5         # full run: rounds of experiment 7 (the median is reported)
PUBLISHED_SECONDS = 10.0   # experiment 7: "requests in 10 seconds", as the published benchmark counts
PUBLISHED_PAYLOAD = 10     # experiment 7: bytes per request of the published comparison
# Experiment 7's published comparison: each run lasts PUBLISHED_SECONDS, so
# it keeps three rounds while the short pinned runs take PERCORE_ROUNDS.
PUBLISHED_ROUNDS = 3
# One connection, as the published benchmark's one-host runs had; ten, the
# goal's shape, which it measured only between two machines.
PUBLISHED_CONNECTIONS = (1, 10)

# CPU-heavy requests (work): the --work-us values, the connection counts,
# and the rounds of a full run (the median is reported).
WORK_US = (0, 10, 100, 1000)
WORK_CONNECTIONS = (10, 100)
WORK_ROUNDS = 3
# One active client beside idle ones (idle_latency): how many idle ones, and
# the rounds of a full run.
IDLE_LATENCY_COUNTS = (0, 1000, 10000)
IDLE_LATENCY_ROUNDS = 3

# The names of the experiment methods of Bench, in the order a run calls them
# (bench.py offers them to --only).
EXPERIMENTS = ["throughput", "nagle", "backlog", "burst", "idle", "idle_latency", "scaling",
               "completion", "percore", "work", "goals"]


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


def paired_ratios(results, base_results):
    """A configuration's rounds against the baseline's rounds of the same
    shape, paired by round number (the two ran back to back): the median of
    the rounds' rate ratios with its lowest and highest, and the median of
    their CPU-per-request ratios. On a machine whose speed drifts between
    rounds, a round's ratio compares two runs taken seconds apart, which the
    ratio of two medians (possibly from different rounds) does not; the
    goals of experiments 6 and 7 are judged on these. Empty when no round
    has both sides."""
    base_by_round = {r["round"]: r for r in base_results}
    pairs = [(r, base_by_round[r["round"]]) for r in results if r["round"] in base_by_round]
    rates = [r["rps"] / b["rps"] for r, b in pairs if b["rps"]]
    cpus = [r["server_cpu_per_10k_s"] / b["server_cpu_per_10k_s"] for r, b in pairs
            if r.get("server_cpu_per_10k_s") is not None and b.get("server_cpu_per_10k_s")]
    if not rates:
        return {}
    return {"rps_ratio_paired": median_value(rates), "rps_ratio_paired_min": min(rates),
            "rps_ratio_paired_max": max(rates), "cpu_ratio_paired": median_value(cpus)}


def pin_prefixes(allowed_cpus, taskset):
    """How experiments 6 and 7 start a server and loadgen: (server prefix,
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


def server_cpu_per_10k(result):
    """The server's CPU per 10,000 requests of one pingpong result. The CPU
    time is read from outside, before loadgen starts and after it ends, so
    it covers the connects and the warm-up as well as the measured window:
    it is divided by the requests of that whole span (loadgen's
    requests_all), not by the window's alone, which would charge the
    warm-up's work to the window's requests (by about (warm-up + window) /
    window). A result without requests_all (an older loadgen) uses the
    window's count."""
    return cpu_per_10k(result["server_cpu_s"], result.get("requests_all", result["requests"]))


def median_round_and_latency(results, lowest=("connections_served",)):
    """median_round, plus p50_median_us, p99_median_us and
    server_cpu_per_10k_median_s: the medians over the rounds of each round
    trip percentile and of the CPU per request, each taken on its own (as
    median_round_and_cpu takes the CPU), since one round's p99 is noisier
    than its rate; and, for each field named in `lowest`, KEY_min: its
    smallest value in any round. A server that left a connection waiting
    in one round is then marked even when the median round served them
    all."""
    chosen = median_round(results)
    for key in ("p50_us", "p99_us"):
        chosen[key.replace("_us", "_median_us")] = median_value([r.get(key) for r in results])
    chosen["server_cpu_per_10k_median_s"] = median_value(
        [r.get("server_cpu_per_10k_s") for r in results])
    for key in lowest:
        values = [r[key] for r in results if r.get(key) is not None]
        chosen[f"{key}_min"] = min(values) if values else None
    return chosen


def work_ceiling(work_us, cpus):
    """The most requests per second `cpus` cores can serve when each costs
    work_us microseconds of CPU and nothing else costs anything:
    cpus * 1,000,000 / work_us. None without work (then the work sets no
    ceiling) or without a CPU count."""
    if not work_us or not cpus:
        return None
    return cpus * 1e6 / work_us


def fewest_served(row):
    """The fewest connections a row's server served in any round
    (connections_served_min, else the row's own connections_served) when
    that is fewer than it was offered; None when it served every one, or
    when the row does not say. Its figures then describe the connections
    it served, not all of them, and the report and the charts mark it."""
    served = row.get("connections_served_min", row.get("connections_served"))
    if served is None or served >= row["connections"]:
        return None
    return served


def chat_peak(rows):
    """Where the chat grid's throughput peaks in `rows` (the cells of one
    strategy at one backlog, in any order) and what follows the peak. Cells
    whose room never formed (joined false) measured no throughput and are
    left out; None when no cell is left.

    Returns clients, in_room and rps of the peak cell (the most deliveries
    per second); after_clients, after_in_room and after_rps of the lowest
    cell with more clients than the peak (None when the peak is at the most
    clients measured); share, after_rps over the peak's; and shape: "rises"
    (the peak is at the most clients measured), "holds" (share at least
    CHAT_FLAT_SHARE), "collapses" (share below CHAT_COLLAPSE_SHARE) or
    "falls" (in between)."""
    cells = sorted((r for r in rows if r.get("joined")), key=lambda r: r["connections"])
    if not cells:
        return None
    peak = max(cells, key=lambda r: r["rps"])
    beyond = [r for r in cells if r["connections"] > peak["connections"]]
    after = min(beyond, key=lambda r: r["rps"]) if beyond else None
    found = {"clients": peak["connections"], "in_room": peak["clients_in_room"], "rps": peak["rps"],
             "after_clients": after and after["connections"],
             "after_in_room": after and after["clients_in_room"],
             "after_rps": after and after["rps"], "share": None, "shape": "rises"}
    if after is not None:
        share = after["rps"] / peak["rps"] if peak["rps"] else None
        found["share"] = share
        if share is None or share >= CHAT_FLAT_SHARE:
            found["shape"] = "holds"
        else:
            found["shape"] = "collapses" if share < CHAT_COLLAPSE_SHARE else "falls"
    return found


def generator_busy(row):
    """The share of a chat row's measured window that loadgen spent on the
    CPU (loadgen_cpu_window_s over seconds), or None when the row does not
    say. loadgen is one thread: near 1 (CHAT_GENERATOR_BUSY), the generator
    rather than the server may have set the rate."""
    cpu, seconds = row.get("loadgen_cpu_window_s"), row.get("seconds")
    if cpu is None or not seconds:
        return None
    return cpu / seconds


def help_default(help_text, option):
    """The default a server's --help shows for `option` (CLI11 prints it
    after "=" on the option's line: "--threads UINT:UINT in [1 - 1024]=2"),
    as an int, or None when the text shows none."""
    match = re.search(rf"^[ \t]*{re.escape(option)}\b[^\n]*=(\d+)[ \t]*$", help_text, re.MULTILINE)
    return int(match.group(1)) if match else None


def design_limit(kind, threads):
    """How many clients a server of `kind` serves at once by design: one
    for the sequential server, its pool's `threads` for a pool (None when
    unknown), None (no limit of its design) for every other kind. The
    kinds with a limit are LIMITED_KINDS."""
    if kind not in LIMITED_KINDS:
        return None
    return 1 if kind == "sequential" else threads


def burst_summary(rounds, limit, planned):
    """One server's row of the burst check from its rounds (loadgen burst
    results, each with server, kind and round): the lowest, median and
    highest share served, the served count, refused, timed out and wrong
    replies of its worst round, the slowest client served in any round, and
    its design's limit (design_limit) beside `limited`, whether its kind has
    one. `planned` is how many rounds the run meant to make."""
    worst = min(rounds, key=lambda r: r["success_rate"])
    rates = [r["success_rate"] for r in rounds]
    served = [r for r in rounds if r["served"]]
    return {"server": worst["server"], "kind": worst["kind"], "connections": worst["connections"],
            "timeout_s": worst["timeout_s"], "rounds": len(rounds), "rounds_planned": planned,
            "success_rate_min": min(rates), "success_rate_median": median_value(rates),
            "success_rate_max": max(rates), "served_min": worst["served"],
            "refused_worst": worst["refused"], "timed_out_worst": worst["timed_out"],
            "errors_worst": worst["errors"],
            "max_us": max(r["max_us"] for r in served) if served else None,
            "limited": worst["kind"] in LIMITED_KINDS, "serves_at_once": limit}


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
        result["server_cpu_per_10k_s"] = server_cpu_per_10k(result)
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

    def client_run(self, client, server, connections, nodelay, seconds, payload=64):
        with RunningServer(self.build_dir, server, "framed") as running:
            before = cpu_seconds(running.pid)
            argv = [os.path.join(self.build_dir, client.path), str(running.port),
                    "--protocol", "framed", "--clients", str(connections), "--seconds", str(seconds),
                    "--payload-bytes", str(payload)]
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
        """The chat grid at saturation: clients x listen backlog x broadcast
        strategy (CHAT_CLIENTS x CHAT_BACKLOGS x CHAT_STRATEGIES). All
        clients connect at once; those not in the room within CHAT_JOIN_S
        count as failed (the success rate), and every client in the room
        sends in a closed loop, CHAT_IN_FLIGHT message on its way at a time,
        so the room runs as fast as the server delivers: the deliveries per
        second of a cell are the strategy's capacity for that room, and
        chat_peak reads where it peaks and what follows. Each cell starts
        its server afresh."""
        server = next((s for s in servers if s.kind == "chat"), None)
        if server is None:
            self.note("chat", "skipped: chat-server is not built")
            return
        if self.quick:
            seconds, warmup, clients_list, backlogs = 1.0, 0.3, CHAT_QUICK_CLIENTS, CHAT_QUICK_BACKLOGS
        else:
            seconds, warmup, clients_list, backlogs = 3.0, 0.5, CHAT_CLIENTS, CHAT_BACKLOGS
        for strategy in CHAT_STRATEGIES:
            for backlog in backlogs:
                for clients in clients_list:
                    try:
                        with RunningServer(self.build_dir, server, "chat",
                                           ("--broadcast", strategy, "--backlog", str(backlog))) as running:
                            before = cpu_seconds(running.pid)
                            r = self.run_loadgen(
                                ["chat", "--port", running.port, "-c", clients, "--senders", 0,
                                 "--in-flight", CHAT_IN_FLIGHT, "--size", CHAT_SIZE,
                                 "--seconds", seconds, "--warmup", warmup, "--drain", CHAT_PATIENCE_S,
                                 "--join-timeout", CHAT_JOIN_S],
                                timeout=seconds + warmup + CHAT_JOIN_S + CHAT_PATIENCE_S + 60)
                            r["server_cpu_s"] = cpu_seconds(running.pid) - before
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("chat", f"{strategy} backlog={backlog} clients={clients}: {error}")
                        continue
                    self.record("chat", {"server": server.name, "broadcast": strategy,
                                         "backlog": backlog, **r})
        self.note("chat", f"saturated: every client in the room sends {CHAT_SIZE}-byte messages in a "
                  f"closed loop, {CHAT_IN_FLIGHT} on its way at a time (the next one as soon as the "
                  "last reached every other client), so the room runs as fast as the server delivers; "
                  f"{warmup} s warm-up + {seconds} s measured, each cell on a server started afresh; "
                  f"a message not delivered everywhere within {CHAT_PATIENCE_S:g} s is given up and "
                  f"counted lost; a client not in the room {CHAT_JOIN_S:g} s after the burst began "
                  "counts as failed (1 s is also Linux's first SYN retransmission, so a client whose "
                  "SYN met a full queue misses it)")

    # --- experiment 3c: the burst check ----------------------------------------

    def burst(self, servers):
        """GOAL_BURST_CLIENTS connects at once (loadgen burst, shift) against
        every echo server with its default settings, not even the registry's
        arguments: what is checked is what a server does unconfigured, its
        default listen backlog above all. A client counts when it is greeted
        and its one request answered within GOAL_BURST_SECONDS.

        A full run makes BURST_ROUNDS rounds, one round over all servers
        after another (as experiment 1 does), since a burst's outcome varies
        from one try to the next more than any rate; each server's row
        (burst_summary) has its lowest, median and highest share served, and
        how many clients its design serves at once (design_limit)."""
        rounds = 1 if self.quick else BURST_ROUNDS
        targets = [dataclasses.replace(s, args=()) for s in echo_servers(servers)]
        limits = {s.name: design_limit(s.kind, self.default_threads(s)) for s in targets}
        measured = {s.name: [] for s in targets}
        for round_number in range(1, rounds + 1):
            for server in targets:
                try:
                    with RunningServer(self.build_dir, server, "shift") as running:
                        r = self.run_loadgen(["burst", "--port", running.port, "-c", GOAL_BURST_CLIENTS,
                                              "--timeout", GOAL_BURST_SECONDS],
                                             timeout=GOAL_BURST_SECONDS + 60)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    self.note("burst", f"{server.name} round {round_number}: {error}")
                    continue
                r = {"server": server.name, "kind": server.kind, "round": round_number, **r}
                self.record("burst_rounds", r)
                measured[server.name].append(r)
        for server in targets:
            if measured[server.name]:
                self.record("burst", burst_summary(measured[server.name], limits[server.name], rounds))
        self.note("burst", f"{GOAL_BURST_CLIENTS} connects at once, shift; each client waits for the "
                  f"greeting, then makes one 64-byte round trip, and counts if both came within "
                  f"{GOAL_BURST_SECONDS:g} s; every server with its default settings (no --backlog: "
                  f"its default, capped by net.core.somaxconn = {read_sysctl('net/core/somaxconn')}); "
                  f"{rounds} round(s), one over all servers after another")

    def default_threads(self, server):
        """The --threads default a pool server's --help shows (help_default),
        or None for another kind or when it shows none: only a pool's limit
        depends on it."""
        if server.kind != "pool":
            return None
        try:
            result = subprocess.run([os.path.join(self.build_dir, server.path), "--help"],
                                    capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return help_default(result.stdout, "--threads")

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
        # Every server's default backlog is SOMAXCONN (4096 on Linux; the
        # kernel caps it at net.core.somaxconn: cs/backlog.hpp), so the
        # clients it is slow to accept wait in its queue.
        with RunningServer(self.build_dir, server, "shift") as running:
            time.sleep(0.2)  # let it settle after start-up
            rss0, threads0 = memory_and_threads(running.pid)
            with IdleClients(self.loadgen, running.port, count, IDLE_READY_TIMEOUT) as idle:
                time.sleep(0.5)  # threads started for the last clients reach their recv
                rss, threads = memory_and_threads(running.pid)
            result = idle.result
        if result is None:
            raise RuntimeError("loadgen idle printed no result")
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


    # --- experiments 6 and 7: pinned, interleaved rounds ------------------------

    def pinned_rounds(self, experiment, configs, shapes, seconds, warmup, rounds):
        """The pinned measurement experiments 6 and 7 share: closed-loop
        pingpong with 16-byte requests, nodelay off, loadgen with one
        thread, the server pinned to one CPU and loadgen to another
        (pin_prefixes; the first note under `experiment` says how, or why
        not), so that neither steals the other's core and the server's CPU
        per request is its own.

        configs: (Server, extra server arguments) in the order they are
        measured; shapes: (protocol, connections). In each round every shape
        is measured on every configuration back to back, so a noisy moment
        hits both sides of a ratio. Each run is recorded under
        EXPERIMENT_rounds; then, per configuration and shape, the round with
        the median rate with the median CPU over the rounds
        (median_round_and_cpu) under `experiment`. A row's "settings" is its
        extra arguments, or "default"."""
        server_prefix, loadgen_prefix, unpinned = pin_prefixes(os.sched_getaffinity(0),
                                                               shutil.which("taskset"))
        if unpinned is None:
            self.note(experiment, f"pinned with taskset: the server to CPU {SERVER_CPU} (taskset -c "
                      f"{SERVER_CPU}), loadgen with --threads 1 to CPU {LOADGEN_CPU} (taskset -c {LOADGEN_CPU})")
        else:
            self.note(experiment, f"not pinned: {unpinned}; the server and loadgen (--threads 1) "
                      "shared the CPUs as the scheduler chose")
        measured = {(server.name, tuple(extra), *shape): []
                    for shape in shapes for server, extra in configs}
        for round_number in range(1, rounds + 1):
            for protocol, connections in shapes:
                for server, extra in configs:
                    settings = " ".join(extra) or "default"
                    args = ["-c", connections, "--size", 16, "--threads", 1]
                    try:
                        r = self.measured_pingpong(server, protocol, args, seconds, warmup, tuple(extra),
                                                   server_prefix=server_prefix,
                                                   loadgen_prefix=loadgen_prefix)
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note(experiment, f"{server.name}{' ' + settings if extra else ''} {protocol} "
                                  f"c={connections} round {round_number}: {error}")
                        continue
                    r = {"server": server.name, "kind": server.kind, "settings": settings,
                         "round": round_number, "pinned": unpinned is None, "protocol": protocol,
                         "connections": connections, **r}
                    self.record(f"{experiment}_rounds", r)
                    measured[(server.name, tuple(extra), protocol, connections)].append(r)
        base_server, base_extra = configs[0]
        base = (base_server.name, tuple(base_extra))
        for (name, extra, protocol, connections), results in measured.items():
            if not results:
                continue
            row = median_round_and_cpu(results)
            if (name, extra) != base:
                row.update(paired_ratios(results, measured[(*base, protocol, connections)]))
            self.record(experiment, row)

    # --- experiment 6 ---------------------------------------------------------

    def completion(self, servers):
        """The completion-port framework's server against epoll-server, side
        by side: closed-loop pingpong with 16-byte requests, shift and
        framed, at 1, 10 and 100 connections, nodelay off, both servers with
        their default settings; then the memory per idle connection of both.

        The server is pinned to one CPU and loadgen (one thread) to another
        (pinned_rounds, shared with experiment 7), so that neither steals the
        other's core and the server's CPU per request is its own. In each round every shape is
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
        shapes = [(protocol, c) for protocol in ("shift", "framed") for c in (1, 10, 100)]
        self.pinned_rounds("completion", [(server, ()) for server in chosen], shapes,
                           seconds, warmup, rounds)
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

    # --- experiment 7 ---------------------------------------------------------

    def percore(self, servers):
        """Per-core efficiency: every echo server with its default settings,
        and the Asio servers also with --threads 1, pinned to one core with
        loadgen (one thread) on the other (pinned_rounds, as experiment 6
        measures), 16-byte requests, shift and framed, at 10 and 100
        connections, nodelay off; epoll-server first in every round, since
        every rate is reported as a share of its rate in the same run. Then
        the published benchmark's comparison (percore_published)."""
        echo = echo_servers(servers)
        base = next((s for s in echo if s.name == PERCORE_BASELINE), None)
        if base is None:
            self.note("percore", f"skipped: {PERCORE_BASELINE} (the baseline of every ratio) not built")
        else:
            seconds, warmup = (1.0, 0.3) if self.quick else (2.0, 0.5)
            rounds = 1 if self.quick else PERCORE_ROUNDS
            configs = [(base, ())]
            for server in echo:
                if server is not base:
                    configs.append((server, ()))
                    if server.name in PERCORE_ONE_THREAD:
                        configs.append((server, ("--threads", "1")))
            shapes = [(protocol, c) for protocol in ("shift", "framed") for c in (10, 100)]
            self.pinned_rounds("percore", configs, shapes, seconds, warmup, rounds)
            self.note("percore", f"16-byte requests, nodelay off, every server with its default settings "
                      f"(the runner's, as in experiment 1) and {' and '.join(PERCORE_ONE_THREAD)} also "
                      f"with --threads 1; each run {warmup} s warm-up, then {seconds} s measured; "
                      f"{rounds} round(s), each shape on every server back to back, {PERCORE_BASELINE} "
                      "first; the median round shown, and the median CPU over the rounds")
        self.percore_published(servers)

    def percore_published(self, servers):
        """The published Asio/Qt benchmark's measure, "requests in 10
        seconds": the chapter's own client of the same library as the
        published pair (PUBLISHED_PAIRS) against our server, framed,
        PUBLISHED_PAYLOAD-byte requests, nodelay off, one client process
        with 1 and with 10 connections, PUBLISHED_SECONDS with no warm-up,
        client and server unpinned on one host as that benchmark ran them.
        A full run takes the round with the median count of PUBLISHED_ROUNDS
        (the published figures are means of 10 runs)."""
        rounds = 1 if self.quick else PUBLISHED_ROUNDS
        pairs = []
        for server_name, client_name in PUBLISHED_PAIRS:
            server = next((s for s in servers if s.name == server_name), None)
            client = next((c for c in self.clients if c.name == client_name), None)
            if server is None or client is None:
                self.note("percore_published", f"{client_name} -> {server_name} skipped: "
                          f"{server_name if server is None else client_name} not built")
            else:
                pairs.append((server, client))
        measured = {(server.name, c): [] for server, _ in pairs for c in PUBLISHED_CONNECTIONS}
        for round_number in range(1, rounds + 1):
            for connections in PUBLISHED_CONNECTIONS:
                for server, client in pairs:
                    try:
                        r = self.client_run(client, server, connections, False, PUBLISHED_SECONDS,
                                            PUBLISHED_PAYLOAD)
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("percore_published", f"{client.name} -> {server.name} c={connections} "
                                  f"round {round_number}: {error}")
                        continue
                    row = {"client": client.name, "server": server.name, "connections": connections,
                           "payload_bytes": PUBLISHED_PAYLOAD, "round": round_number,
                           "requests": r["requests"], "rps": r["requests_per_second"],
                           "errors": r["errors"], "seconds": r["seconds"],
                           "server_cpu_s": r["server_cpu_s"]}
                    self.record("percore_published_rounds", row)
                    measured[(server.name, connections)].append(row)
        for results in measured.values():
            if results:
                chosen = median_round(results)
                chosen["requests_min"] = min(r["requests"] for r in results)
                chosen["requests_max"] = max(r["requests"] for r in results)
                self.record("percore_published", chosen)
        if pairs:
            self.note("percore_published", f"measured as the published benchmark counts: the requests "
                      f"one client process completed in {PUBLISHED_SECONDS:g} s, no warm-up, framed, "
                      f"{PUBLISHED_PAYLOAD}-byte payloads, nodelay off, client and server not pinned, on "
                      f"this one host over loopback; clients: "
                      f"{', '.join(f'{c.name} -> {s.name}' for s, c in pairs)}, each with --clients "
                      f"{' and '.join(map(str, PUBLISHED_CONNECTIONS))}; {rounds} round(s), the round "
                      "with the median count shown")

    # --- CPU-heavy requests (work) --------------------------------------------

    def work(self, servers):
        """Requests per second and round trip against --work-us (WORK_US),
        the microseconds of CPU every server spends on each message before
        it replies: every echo server, shift, 64-byte requests, at 10 and
        100 connections (WORK_CONNECTIONS), nodelay off, loadgen with one
        thread. Not pinned: how each design spreads the work over the
        machine's cores is what it measures. A full run measures every point
        WORK_ROUNDS times; each round takes one point on every server before
        the next point, so that a noisy moment hits every design at that
        point; the report shows the median round's rate and the medians of
        p50 and p99 over the rounds (median_round_and_latency)."""
        # A full run: 12 servers x 8 points x 3 rounds of 2.5 s, about 12
        # minutes; 2 s measured give even a single-threaded loop at 1,000 us
        # and 100 connections about 20 round trips per connection.
        seconds, warmup = (0.7, 0.3) if self.quick else (2.0, 0.5)
        rounds = 1 if self.quick else WORK_ROUNDS
        cpus = len(os.sched_getaffinity(0))
        chosen = [s for s in echo_servers(servers) if "shift" in s.protocols]
        shapes = [(connections, work_us) for connections in WORK_CONNECTIONS for work_us in WORK_US]
        measured = {(server.name, *shape): [] for shape in shapes for server in chosen}
        for round_number in range(1, rounds + 1):
            for connections, work_us in shapes:
                for server in chosen:
                    try:
                        r = self.measured_pingpong(server, "shift",
                                                   ["-c", connections, "--size", 64, "--threads", 1],
                                                   seconds, warmup, ("--work-us", str(work_us)))
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("work", f"{server.name} --work-us {work_us} c={connections} "
                                  f"round {round_number}: {error}")
                        continue
                    r = {"server": server.name, "kind": server.kind, "protocol": "shift",
                         "connections": connections, "work_us": work_us, "cpus": cpus,
                         "round": round_number, **r}
                    self.record("work_rounds", r)
                    measured[(server.name, connections, work_us)].append(r)
        for results in measured.values():
            if results:
                self.record("work", median_round_and_latency(results))
        self.note("work", f"shift, 64-byte requests, nodelay off, loadgen with one thread, not pinned; "
                  f"{len(chosen) * len(shapes) * rounds} runs of {warmup} s warm-up + {seconds} s "
                  f"measured, each server started afresh with --work-us N; {rounds} round(s), each "
                  "point on every server before the next point; the median round's requests/s, the "
                  f"medians of p50 and p99 over the rounds; {cpus} CPUs available to the servers "
                  "and loadgen")

    # --- one active client beside idle ones (idle_latency) ----------------------

    def idle_latency(self, servers):
        """One active connection's round trip beside 0, 1,000 and 10,000
        idle ones (IDLE_LATENCY_COUNTS), on IDLE_LATENCY_SERVERS: Qt's event
        loop, which waits in poll() and so hands the kernel every open
        socket at every wake-up, against two that wait in epoll_wait, which
        returns only the ready ones. loadgen idle opens the idle
        connections and waits for the server's greeting on each, as
        experiment 4 does, and holds them while loadgen pingpong runs one
        connection beside them:
        64-byte shift requests, nodelay on, so that no Nagle or delayed-ACK
        wait enters a round trip. Every point starts its server afresh.
        Rounds interleaved as in the work experiment; the report shows the
        median round's rate and the medians of p50 and p99 over the rounds."""
        chosen = [s for name in IDLE_LATENCY_SERVERS for s in servers if s.name == name]
        missing = [name for name in IDLE_LATENCY_SERVERS if all(s.name != name for s in chosen)]
        if missing:
            self.note("idle_latency", f"left out, not built: {', '.join(missing)}")
        if not chosen:
            return
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limit = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_WANTED)
        counts = [count for count in IDLE_LATENCY_COUNTS if count + 100 <= limit]
        for count in IDLE_LATENCY_COUNTS:
            if count not in counts:
                self.note("idle_latency", f"{count} idle connections skipped: the open-file hard "
                          f"limit is {hard}")
        seconds, warmup = (1.0, 0.3) if self.quick else (3.0, 0.5)
        rounds = 1 if self.quick else IDLE_LATENCY_ROUNDS
        # Every server's default backlog is SOMAXCONN (4096 on Linux; the
        # kernel caps it at net.core.somaxconn: cs/backlog.hpp), so the
        # clients it is slow to accept wait in its queue.
        measured = {(server.name, count): [] for count in counts for server in chosen}
        for round_number in range(1, rounds + 1):
            for count in counts:
                for server in chosen:
                    try:
                        r = self.beside_idle(server, count, seconds, warmup)
                    except (RuntimeError, subprocess.TimeoutExpired) as error:
                        self.note("idle_latency", f"{server.name} beside {count} idle "
                                  f"round {round_number}: {error}")
                        continue
                    r = {"server": server.name, "kind": server.kind, "round": round_number, **r}
                    self.record("idle_latency_rounds", r)
                    measured[(server.name, count)].append(r)
        for results in measured.values():
            if results:
                self.record("idle_latency", median_round_and_latency(
                    results, lowest=("connections_served", "idle_held", "idle_greeted")))
        self.note("idle_latency", f"one active connection: 64-byte shift requests, nodelay on, "
                  f"{warmup} s warm-up + {seconds} s measured, beside idle connections opened and "
                  f"greeted before it starts; each server started afresh with its default backlog; "
                  f"{rounds} round(s), each count on every server before the next count; the median "
                  "round's requests/s, the medians of p50, p99 and server CPU over the rounds")

    def beside_idle(self, server, count, seconds, warmup):
        """One pingpong connection against `server` while loadgen idle holds
        `count` idle ones to it: the loadgen result, with the server's CPU
        seconds during the pingpong and how many idle connections were held
        and greeted."""
        with RunningServer(self.build_dir, server, "shift") as running:
            with IdleClients(self.loadgen, running.port, count, IDLE_READY_TIMEOUT) as idle:
                before = cpu_seconds(running.pid)
                r = self.run_loadgen(["pingpong", "--port", running.port, "--protocol", "shift",
                                      "--seconds", seconds, "--warmup", warmup, "-c", 1, "--size", 64,
                                      "--nodelay"], timeout=seconds + warmup + 60)
                r["server_cpu_s"] = cpu_seconds(running.pid) - before
        if idle.result is None:
            raise RuntimeError(f"loadgen idle -c {count} printed no result")
        r["server_cpu_per_10k_s"] = server_cpu_per_10k(r)
        return {"idle_connections": count, "idle_held": idle.result["held_at_end"],
                "idle_greeted": idle.result["ready"], **r}

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
