#!/usr/bin/env python3
# --work-us against a real server: the simulator's cpu-heavy scenario sends
# CLIENTS x MESSAGES requests to a server started with --work-us W, and this
# checks that the work happened. Lower bounds only (a busy machine may take
# longer, never less):
# - the server's CPU time (/proc, Linux) is at least CLIENTS x MESSAGES x W,
#   less two clock ticks for /proc's rounding of user and system time;
# - with --single-thread (a server that runs every session on one thread,
#   an event loop): the staircase. The k-th client to be answered has its
#   last reply at least k x MESSAGES x W after the first request was sent,
#   since one thread has done k clients' work by then.
# A server that ignored --work-us fails both by a wide margin.
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True, help='"BINARY [ARGS]" without --work-us')
    parser.add_argument("--protocol", default="shift")
    parser.add_argument("--work-us", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2)
    parser.add_argument("--single-thread", action="store_true")
    args = parser.parse_args()
    work = args.work_us / 1e6
    with tempfile.TemporaryDirectory() as directory:
        json_path = os.path.join(directory, "run.json")
        command = [sys.executable, os.path.join(ROOT, "simulator"), "run", "--quiet",
                   "--scenario", "cpu-heavy", "-n", str(args.clients),
                   "--messages", str(args.messages), "--protocol", args.protocol,
                   "--server", "%s --work-us %d" % (args.server, args.work_us),
                   "--json", json_path]
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=60)
        print(result.stdout)
        if result.returncode != 0:
            print("FAIL: the run failed (status %d)" % result.returncode)
            return 1
        with open(json_path, encoding="utf-8") as source:
            report = json.load(source)
    failures = []
    tick = 1 / os.sysconf("SC_CLK_TCK")
    wanted_cpu = args.clients * args.messages * work - 2 * tick
    if report["server_cpu"] is None:
        failures.append("the server's CPU time could not be read")
    elif report["server_cpu"] < wanted_cpu:
        failures.append("server CPU %.3f s, expected at least %.3f s"
                        % (report["server_cpu"], wanted_cpu))
    if args.single_thread:
        records = report["records"]
        first_send = min(event["t"] for record in records for event in record["events"]
                         if event["dir"] == "send")
        answered = sorted(max(event["t"] for event in record["events"] if event["dir"] == "recv")
                          for record in records)
        for rank, at in enumerate(answered, 1):
            wanted = rank * args.messages * work
            print("client answered %d-th: %.3f s after the first request (at least %.3f s)"
                  % (rank, at - first_send, wanted))
            if at - first_send < wanted:
                failures.append("the %d-th client answered %.3f s after the first request, "
                                "expected at least %.3f s" % (rank, at - first_send, wanted))
    for failure in failures:
        print("FAIL: " + failure)
    if not failures:
        print("PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
