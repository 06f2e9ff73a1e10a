#!/usr/bin/env python3
"""bench.py - the benchmark runner behind `./run bench`.

Starts every server of every chapter (from a release build) on an ephemeral
port, drives it with loadgen (part7_benchmarks/loadgen), and writes, under
build/bench/<timestamp>/: results.jsonl (every loadgen result, raw, plus what
the runner measured around it), one CSV per experiment, PNG charts, and
report.md with the machine's facts. Every ratio in the report is against a
baseline measured in the same run, never against a number from elsewhere.

The experiments (each a method of Bench in bench_experiments.py, run in
this order):
  1. throughput   requests per second per design x {1, 10, 100} connections
                  x nodelay off/on; clients: the Asio and Qt clients against
                  the Asio and Qt servers ("requests in 10 seconds")
  2. nagle        header and body in two writes vs one, x nodelay off/on,
                  over loopback and over a veth pair between two namespaces
  3. backlog      bursts of clients x listen backlog -> share served, for the
                  echo servers; then the chat grid, clients 50..500 x backlog
                  10..300 x broadcast strategy, every client sending in a
                  closed loop: share in the room, deliveries/s, p99 latency,
                  where each strategy's throughput peaks
  3c. burst       400 connects at once against every echo server with its
                  default settings: the share greeted and answered within 2 s,
                  lowest, median and highest of 3 rounds (1 with --quick)
  4. idle         memory (RSS) and threads per idle connection
  4b. idle_latency
                  one active connection's round trip beside 0, 1,000 and
                  10,000 idle ones: qt-server (its event loop waits in poll)
                  against epoll-server and asio-server (epoll_wait)
  5. scaling      --threads of the pool designs; server CPU per 10,000 requests
  6. completion   completion-server against epoll-server, the server pinned to
                  CPU 0 and loadgen to CPU 1: requests/s and CPU per request
                  (16 bytes, shift and framed, 1/10/100 connections), and
                  memory per idle connection
  7. percore      every echo server pinned as in 6 (16 bytes, shift and
                  framed, 10/100 connections), the Asio servers also with
                  --threads 1: requests/s as a share of epoll-server's, CPU per
                  request; then asio-server and qt-server-threads counted as
                  the published Asio/Qt benchmark counts ("requests in 10 s")
  8. work         requests/s and p99 against --work-us 0, 10, 100 and 1,000
                  (CPU per request), every echo server and asio-server-workers,
                  10 and 100 connections, not pinned
  goals           the round trip of one connection at 16 and 1024 bytes; the
                  report then checks the performance goals against this run

A server joins the matrix by one entry in REGISTRY (bench_registry.py), in
every experiment unless its entry names the ones it joins; an entry whose
binary is not in the build is skipped, and the report says so.

This file is the command line and the order of a run; the parts are modules
beside it, each with its own tests in part7_benchmarks/tests/:
  bench_registry.py     the servers and clients, and --check-registry
  bench_experiments.py  the experiments (class Bench)
  bench_processes.py    starting and stopping servers, idle clients, /proc
                        readings, veth
  bench_machine.py      the machine's facts for the report
  bench_goals.py        the performance goals' verdicts
  bench_report.py       report.md's text and the CSVs
  bench_charts.py       the PNG charts
  bench_format.py       number, ratio and table formatting; log lines

Run:  python3 part7_benchmarks/bench.py --build-dir build/release [--quick]
      (--quick: a small subset in a few minutes; the full run about an hour)
      python3 part7_benchmarks/bench.py --redraw build/bench/<timestamp>
      (draws an earlier run's charts again from its results.jsonl, with this
      checkout's chart code; measures nothing)
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

from bench_charts import draw_charts
from bench_experiments import EXPERIMENTS, Bench
from bench_format import log
from bench_machine import machine_facts
from bench_processes import raise_open_files
from bench_registry import CLIENTS, REGISTRY, check_registry, echo_servers, joining, split_available
from bench_report import report_text, write_csvs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build-dir", help="a release build of the whole tree (required to measure)")
    parser.add_argument("--loadgen", help="loadgen binary (default: BUILD_DIR/part7_benchmarks/loadgen/loadgen)")
    parser.add_argument("--out", help="output directory (default: build/bench/<timestamp> in the repository)")
    parser.add_argument("--quick", action="store_true", help="a small subset, in a few minutes")
    parser.add_argument("--only", action="append", choices=EXPERIMENTS,
                        help="run only this experiment (repeatable)")
    parser.add_argument("--check-registry", action="store_true",
                        help="only check that every server, client and loadgen is in the build")
    parser.add_argument("--redraw", metavar="RUN_DIR",
                        help="measure nothing: draw the charts of the run in RUN_DIR again from "
                             "its results.jsonl")
    args = parser.parse_args(argv)
    if args.redraw:
        return redraw(args.redraw)
    if not args.build_dir:
        parser.error("--build-dir is required (unless --redraw)")

    build_dir = os.path.abspath(args.build_dir)
    if args.check_registry:
        return check_registry(build_dir)
    loadgen = os.path.abspath(args.loadgen or os.path.join(build_dir, "part7_benchmarks/loadgen/loadgen"))
    if not os.access(loadgen, os.X_OK):
        sys.exit(f"bench: no loadgen at {loadgen}: build the release preset first "
                 "(./run build release), or pass --loadgen PATH")
    started = datetime.datetime.now(datetime.timezone.utc)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = args.out or os.path.join(repo, "build", "bench", started.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=True)
    raise_open_files()

    present, skipped = split_available(REGISTRY, build_dir)
    for server, reason in skipped:
        log(f"skipping {server.name}: {reason}")
    if not echo_servers(present):
        sys.exit(f"bench: no server binary found under {build_dir}: build the release preset first")

    clients, skipped_clients = split_available(CLIENTS, build_dir)
    skipped += skipped_clients
    bench = Bench(build_dir, loadgen, out_dir, args.quick, clients)
    t0 = time.monotonic()
    for name in args.only or EXPERIMENTS:
        log(f"experiment {name}")
        step = time.monotonic()
        try:
            getattr(bench, name)(joining(present, name))
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            bench.note(name, f"stopped by an error: {error}")
        log(f"experiment {name} took {time.monotonic() - step:.0f} s")
    bench.jsonl.close()
    write_csvs(bench)
    charts = draw_charts(bench)
    command = " ".join(["bench.py", *(argv if argv is not None else sys.argv[1:])])
    text = report_text(machine_facts(), bench.results, bench.notes, skipped, charts,
                       started.strftime("%Y-%m-%d %H:%M:%S"), time.monotonic() - t0, args.quick, command)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(text)
    log(f"done in {time.monotonic() - t0:.0f} s: {out_dir}/report.md")
    return 0


class RecordedRun:
    """What draw_charts reads of a Bench, rebuilt from a run's results.jsonl."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.results = {}
        with open(os.path.join(out_dir, "results.jsonl")) as lines:
            for line in lines:
                if line.strip():
                    row = json.loads(line)
                    self.results.setdefault(row["experiment"], []).append(row)


def redraw(out_dir):
    """Draws the charts of the run in out_dir again, over the old ones."""
    if not os.path.isfile(os.path.join(out_dir, "results.jsonl")):
        sys.exit(f"bench: no results.jsonl in {out_dir}: --redraw takes a run's output directory")
    charts = draw_charts(RecordedRun(out_dir))
    for experiment, name in charts.items():
        log(f"{experiment}: {os.path.join(out_dir, name)}")
    return 0 if charts else 1


if __name__ == "__main__":
    sys.exit(main())
