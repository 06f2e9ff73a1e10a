"""Tests of bench.py itself: its command line (the options `./run bench` and
the docs use), its errors when the build lacks loadgen or every server, and
one whole run through every module (--quick --only goals) against stand-in
binaries: a shell-script server that prints its "listening on" line and a
shell-script loadgen that prints one result. The modules have their own
tests beside this one (test_bench_*.py).

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench.py
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from bench_testing import BENCH_PY, fixed_results, make_executable

READY_SERVER = '#!/bin/sh\necho "listening on 127.0.0.1:4242"\nexec sleep 30\n'
# Prints one pingpong result, with the protocol and size it was asked for, as
# loadgen does (the goals' verdicts name them).
FAKE_LOADGEN = ('#!/bin/sh\nprotocol=shift size=64\n'
                'while [ $# -gt 0 ]; do\n'
                '  case "$1" in --protocol) protocol=$2 ;; --size) size=$2 ;; esac\n'
                '  shift\n'
                'done\n'
                'echo "{\\"protocol\\": \\"$protocol\\", \\"size\\": $size, \\"requests\\": 20000, '
                '\\"rps\\": 10000.0, \\"p50_us\\": 50.0, \\"p99_us\\": 80.0, \\"errors\\": 0}"\n')


def run_bench(*args):
    return subprocess.run([sys.executable, BENCH_PY, *args], capture_output=True, text=True, timeout=120)


class CommandLine(unittest.TestCase):
    def test_help_offers_the_same_options(self):
        result = run_bench("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("bench.py - the benchmark runner behind `./run bench`.", result.stdout)
        for option in ("--build-dir BUILD_DIR", "--loadgen LOADGEN", "--out OUT", "--quick",
                       "--only {throughput,nagle,backlog,burst,idle,idle_latency,scaling,completion,percore,work,goals}", "--check-registry",
                       "--redraw RUN_DIR"):
            self.assertIn(option, result.stdout)

    def test_build_dir_is_required_and_experiments_are_checked(self):
        result = run_bench()
        self.assertEqual(result.returncode, 2)
        self.assertIn("--build-dir is required (unless --redraw)", result.stderr)
        result = run_bench("--build-dir", "x", "--only", "latency")
        self.assertEqual(result.returncode, 2)
        self.assertIn("invalid choice: 'latency'", result.stderr)

    def test_without_loadgen_it_says_what_to_build(self):
        with tempfile.TemporaryDirectory() as build:
            result = run_bench("--build-dir", build)
        self.assertEqual(result.returncode, 1)
        self.assertIn("bench: no loadgen at", result.stderr)
        self.assertIn("./run build release", result.stderr)

    def test_without_any_server_it_stops(self):
        with tempfile.TemporaryDirectory() as build, tempfile.TemporaryDirectory() as out:
            make_executable(build, "part7_benchmarks/loadgen/loadgen", FAKE_LOADGEN)
            result = run_bench("--build-dir", build, "--out", out)
        self.assertEqual(result.returncode, 1)
        self.assertIn("bench: no server binary found under", result.stderr)


class WholeRun(unittest.TestCase):
    def test_quick_goals_run_writes_results_csv_and_report(self):
        with tempfile.TemporaryDirectory() as build, tempfile.TemporaryDirectory() as out:
            make_executable(build, "part1_sequential/sequential-server", READY_SERVER)
            make_executable(build, "part7_benchmarks/loadgen/loadgen", FAKE_LOADGEN)
            result = run_bench("--build-dir", build, "--out", out, "--quick", "--only", "goals")
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("bench: skipping epoll-server: not built", result.stderr)
            self.assertTrue(result.stderr.splitlines()[-1].endswith(f"{out}/report.md"), result.stderr)
            self.assertEqual(sorted(os.listdir(out)), ["goals.csv", "report.md", "results.jsonl"])
            with open(os.path.join(out, "results.jsonl")) as f:
                rows = [json.loads(line) for line in f]
            with open(os.path.join(out, "report.md")) as f:
                report = f.read()
        self.assertEqual(len(rows), 4)  # shift and framed, 16 and 1024 bytes
        self.assertEqual({r["server"] for r in rows}, {"sequential-server"})
        self.assertIn("# Benchmark report (quick run)", report)
        self.assertIn("Command: `bench.py --build-dir", report)
        self.assertIn("- epoll-server (part 4, event): not built", report)
        self.assertIn("- asio-client (part 5, client): not built", report)
        self.assertIn("4 of 4 checks met.", report)
        self.assertIn("| sequential-server | shift | 16 | 10000 | 50 | 80 | 0 |", report)
        self.assertIn("| kernel |", report)


class Redraw(unittest.TestCase):
    def test_redraw_draws_a_runs_charts_from_its_results(self):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.skipTest(f"no matplotlib in {sys.executable}")
        with tempfile.TemporaryDirectory() as out:
            with open(os.path.join(out, "results.jsonl"), "w") as f:
                for row in fixed_results()["nagle"]:
                    f.write(json.dumps({"experiment": "nagle", **row}) + "\n")
            result = run_bench("--redraw", out)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(sorted(os.listdir(out)), ["nagle.png", "results.jsonl"])
            self.assertIn(f"bench: nagle: {out}/nagle.png", result.stderr)

    def test_redraw_of_a_directory_without_results_says_so(self):
        with tempfile.TemporaryDirectory() as out:
            result = run_bench("--redraw", out)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no results.jsonl in", result.stderr)


class ServersJoinTheirExperiments(unittest.TestCase):
    def test_a_server_registered_for_some_experiments_joins_only_those(self):
        # asio-server-workers is registered for the work experiment only.
        with tempfile.TemporaryDirectory() as build, tempfile.TemporaryDirectory() as out:
            for path in ("part1_sequential/sequential-server", "part5_asio/asio-server-workers"):
                make_executable(build, path, READY_SERVER)
            make_executable(build, "part7_benchmarks/loadgen/loadgen", FAKE_LOADGEN)
            result = run_bench("--build-dir", build, "--out", out, "--quick", "--only", "goals",
                               "--only", "work")
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(os.path.join(out, "results.jsonl")) as f:
                rows = [json.loads(line) for line in f]
            with open(os.path.join(out, "report.md")) as f:
                report = f.read()
            self.assertIn("work.csv", os.listdir(out))
        servers = {experiment: {r["server"] for r in rows if r["experiment"] == experiment}
                   for experiment in ("goals", "work")}
        self.assertEqual(servers, {"goals": {"sequential-server"},
                                   "work": {"sequential-server", "asio-server-workers"}})
        self.assertIn("## 8. CPU-heavy requests (--work-us)", report)
        # The stand-in answers 10,000 requests/s at any --work-us: on 2 CPUs,
        # 500% of the 2,000/s they could compute at 1,000 us each.
        share = f"{100 * 10000 / (len(os.sched_getaffinity(0)) * 1e6 / 1000):.0f}%"
        self.assertIn(f"| asio-server-workers | event+workers | 10000 | 10000 | 10000 | 10000 | {share} |",
                      report)


if __name__ == "__main__":
    unittest.main()
