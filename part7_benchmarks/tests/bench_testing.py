"""Shared by the tests of the benchmark runner's modules: puts
part7_benchmarks/ on sys.path (the modules import each other by their bare
names, as bench.py does when run as a script), makes stand-in executables in
a temporary build tree, and builds result rows of the shapes the experiments
record. Not a test module itself (the discovery pattern is test_*.py).
"""

import os
import stat
import sys

PART7 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_PY = os.path.join(PART7, "bench.py")
if PART7 not in sys.path:
    sys.path.insert(0, PART7)


def make_executable(root, relative, text="#!/bin/sh\n"):
    """Writes `text` to root/relative and makes it executable; returns its path."""
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def pingpong_row(server, rps, connections=1, nodelay=False, kind="k"):
    return {"server": server, "kind": kind, "protocol": "shift", "connections": connections,
            "nodelay": nodelay, "rps": rps, "p50_us": 20.0, "p99_us": 90.0, "max_us": 300.0,
            "connections_served": connections, "errors": 0, "server_cpu_per_10k_s": 0.1,
            "loadgen_cpu_s": 0.2}


def chat_row(strategy, backlog, clients, rps, in_room=None, lost=0, gave_up=0, loadgen_cpu=1.5,
             p99_us=900.0):
    """A cell of the chat grid as the saturated grid records it: every
    client in the room sending in a closed loop; loadgen_cpu is loadgen's
    CPU seconds over the 3 s window."""
    in_room = clients if in_room is None else in_room
    return {"server": "chat-server", "broadcast": strategy, "backlog": backlog, "connections": clients,
            "senders": in_room, "in_flight": 1, "joined": in_room >= 2, "clients_in_room": in_room,
            "join_success_rate": in_room / clients, "seconds": 3.0, "rps": rps, "lost": lost,
            "gave_up": gave_up, "p50_us": p99_us / 2, "p99_us": p99_us, "corrupt": 0,
            "clients_dropped": 0, "loadgen_cpu_window_s": loadgen_cpu, "server_cpu_s": 1.0}


def completion_row(server, protocol, connections, rps, cpu_median, cpu_own=None):
    """A median row of experiment 6 (completion): cpu_median is the median
    over the rounds (what the report and the goals read), cpu_own the median
    round's own reading (by default the same)."""
    own = cpu_median if cpu_own is None else cpu_own
    return {"server": server, "kind": "completion" if server == "completion-server" else "event",
            "protocol": protocol, "connections": connections, "rps": rps,
            "connections_served": connections, "errors": 0, "server_cpu_per_10k_s": own,
            "server_cpu_per_10k_median_s": cpu_median, "rps_min": rps, "rps_max": rps, "rounds": 1}


def percore_row(server, protocol, connections, rps, cpu_median=0.1, settings="default", kind="event",
                served=None):
    """A median row of experiment 7 (percore): cpu_median is the median over
    the rounds, served the connections served (by default all)."""
    return dict(completion_row(server, protocol, connections, rps, cpu_median), kind=kind,
                settings=settings, connections_served=connections if served is None else served)


def paired(rows, baseline="epoll-server"):
    """Experiment 6 or 7 rows with what pinned_rounds adds to each row that
    is not the baseline of its shape: its rounds' ratios against the
    baseline's (bench_experiments.paired_ratios), here from one round each,
    with the median-round rate and the median CPU as that round's."""
    from bench_experiments import paired_ratios

    def one_round(row):
        return dict(row, round=1, server_cpu_per_10k_s=row["server_cpu_per_10k_median_s"])

    result = []
    for row in rows:
        base = next((r for r in rows if r["server"] == baseline and r.get("settings", "default") == "default"
                     and (r["protocol"], r["connections"]) == (row["protocol"], row["connections"])), None)
        if base is not None and base is not row:
            row = dict(row, **paired_ratios([one_round(row)], [one_round(base)]))
        result.append(row)
    return result


def published_row(server, client, connections, requests, errors=0):
    """A median row of experiment 7's comparison with the published
    benchmark: a count of requests in 10 s."""
    return {"client": client, "server": server, "connections": connections, "payload_bytes": 10,
            "requests": requests, "rps": requests / 10.0, "errors": errors, "seconds": 10.0,
            "server_cpu_s": 4.0, "requests_min": requests, "requests_max": requests, "rounds": 1}


def work_row(server, connections, work_us, rps, p99_us, served=None, kind="k", cpus=2):
    """A median row of the work experiment: served is the fewest connections
    served in a round (by default all)."""
    served = connections if served is None else served
    return {"server": server, "kind": kind, "protocol": "shift", "connections": connections,
            "work_us": work_us, "cpus": cpus, "rps": rps, "p50_us": p99_us / 2, "p99_us": p99_us,
            "p50_median_us": p99_us / 2, "p99_median_us": p99_us, "connections_served": served,
            "connections_served_min": served, "errors": 0, "server_cpu_per_10k_s": 0.1,
            "server_cpu_per_10k_median_s": 0.1, "rps_min": rps, "rps_max": rps, "rounds": 1}


def idle_latency_row(server, idle, rps, p50_us, p99_us, held=None, kind="event"):
    """A median row of the idle_latency experiment: held is the fewest idle
    connections held and greeted in a round (by default all asked for)."""
    held = idle if held is None else held
    return {"server": server, "kind": kind, "idle_connections": idle, "idle_held": held,
            "idle_greeted": held, "idle_held_min": held, "idle_greeted_min": held, "connections": 1,
            "rps": rps, "p50_us": p50_us, "p99_us": p99_us, "p50_median_us": p50_us,
            "p99_median_us": p99_us, "connections_served": 1, "connections_served_min": 1, "errors": 0,
            "server_cpu_per_10k_s": 0.5, "server_cpu_per_10k_median_s": 0.5, "rps_min": rps,
            "rps_max": rps, "rounds": 1}


def idle_row(server, kib, connections=10000, held=None):
    """A row of experiment 4 (idle), as experiment 6 records it too."""
    held = connections if held is None else held
    return {"server": server, "kind": "k", "connections": connections, "held": held, "ready": held,
            "connect_failures": 0, "rss_kib_before": 4000, "rss_kib": 4000 + (kib or 0) * held,
            "threads_before": 1, "threads": 1, "kib_per_connection": kib,
            "threads_per_connection": 0.0 if held else None}


def burst_row(server, kind, rates, limit=None, planned=None, connections=400):
    """A row of the burst check as burst_summary records it, from each
    round's share served (`rates`); `limit` is its design's serves_at_once."""
    ordered = sorted(rates)
    worst_served = round(ordered[0] * connections)
    return {"server": server, "kind": kind, "connections": connections, "timeout_s": 2.0,
            "rounds": len(rates), "rounds_planned": len(rates) if planned is None else planned,
            "success_rate_min": ordered[0], "success_rate_median": ordered[(len(ordered) - 1) // 2],
            "success_rate_max": ordered[-1], "served_min": worst_served, "refused_worst": 0,
            "timed_out_worst": connections - worst_served, "errors_worst": 0,
            "max_us": 1.05e6 if worst_served else None,
            "limited": kind in ("sequential", "pool"), "serves_at_once": limit}


def fixed_results():
    """One or two rows of every experiment, with every field the report and
    the charts read: a run in miniature."""
    nagle = [{"server": "threaded-server", "link": "loopback", "protocol": "shift",
              "split_writes": split, "nodelay": nodelay, "rps": 20.0 if split and not nodelay else 9000.0,
              "p50_us": 40000.0 if split and not nodelay else 60.0, "p99_us": 41000.0, "errors": 0}
             for split in (False, True) for nodelay in (False, True)]
    backlog = [{"server": server, "backlog": b, "connections": n, "served": n // 2, "success_rate": 0.5,
                "refused": 0, "timed_out": n // 2, "errors": 0, "p50_us": 1.5e6, "max_us": 3e6}
               for server in ("sequential-server", "threaded-server") for b in (10, 128) for n in (200, 1000)]
    clients = [{"client": "asio-client", "server": "asio-server", "connections": c, "nodelay": nd,
                "requests": 1000 * c, "rps": 500.0 * c, "errors": 0, "seconds": 2.0, "server_cpu_s": 0.4}
               for c in (1, 10) for nd in (False, True)]
    idle = [{"server": "epoll-server", "kind": "event", "connections": 1000, "held": 1000, "ready": 1000,
             "connect_failures": 0, "rss_kib_before": 4000, "rss_kib": 6000, "threads_before": 1,
             "threads": 1, "kib_per_connection": 2.0, "threads_per_connection": 0.0},
            {"server": "threaded-server", "kind": "threads", "connections": 1000, "held": 1000,
             "ready": 1000, "connect_failures": 0, "rss_kib_before": 4000, "rss_kib": 14000,
             "threads_before": 1, "threads": 1001, "kib_per_connection": 10.0,
             "threads_per_connection": 1.0}]
    scaling = [dict(pingpong_row("threadpool-server", 1000.0 * t, 16), server_threads=t) for t in (1, 2, 4)]
    goals = [dict(pingpong_row("threaded-server", 20000.0), size=16, requests=40000),
             dict(pingpong_row("epoll-server", 23.0), size=1024, p50_us=43900.0, requests=46)]
    return {
        "throughput": [pingpong_row("sequential-server", 1000.0, c, nd, "sequential")
                       for c in (1, 10) for nd in (False, True)]
                      + [pingpong_row("epoll-server", 3000.0, c, nd, "event")
                         for c in (1, 10) for nd in (False, True)],
        "nagle": nagle, "backlog": backlog, "clients": clients,
        "burst": [burst_row("epoll-server", "event", [1.0, 1.0, 1.0]),
                  burst_row("sequential-server", "sequential", [0.4, 0.5, 0.45], limit=1)],
        # global-lock peaks at 200 clients and collapses at 400, queue holds
        # flat; loadgen was busy for the whole window at one cell.
        "chat": [chat_row(s, b, n, rps * (0.2 if b == 10 else 1), in_room=n // 5 if b == 10 else n,
                          loadgen_cpu=2.9 if (s, b, n) == ("queue", 128, 50) else 1.5,
                          p99_us=1000.0 * n)
                 for s, shape in (("global-lock", ((50, 100000.0), (200, 300000.0), (400, 120000.0))),
                                  ("queue", ((50, 200000.0), (200, 210000.0), (400, 190000.0))))
                 for b in (10, 128) for n, rps in shape],
        "idle": idle, "scaling": scaling, "goals": goals,
        "completion": paired([completion_row(server, protocol, c, rps * c, 0.1)
                              for protocol in ("shift", "framed") for c in (1, 10)
                              for server, rps in (("epoll-server", 3000.0), ("completion-server", 2900.0))]),
        "completion_idle": [idle_row("epoll-server", 0.3), idle_row("completion-server", 5.9)],
        "percore": paired([percore_row(server, protocol, 10, rps)
                           for protocol in ("shift", "framed")
                           for server, rps in (("epoll-server", 60000.0), ("asio-server", 57000.0))]),
        "percore_published": [published_row("asio-server", "asio-client", c, 100000 * c) for c in (1, 10)],
        "work": [work_row(server, c, w, rps / max(w, 1), 100.0 * max(w, 1), served)
                 for c in (10, 100) for w in (0, 10, 100, 1000)
                 for server, rps, served in (("threaded-server", 90000.0, None),
                                             ("threadpool-server", 80000.0, 4))],
        "idle_latency": [idle_latency_row(server, n, 20000.0 / factor, 40.0 * factor, 80.0 * factor)
                         for n in (0, 1000, 10000)
                         for server, factor in (("epoll-server", 1), ("qt-server", 1 + n / 1000))],
    }
