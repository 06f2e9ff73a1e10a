"""Tests of bench_experiments: the arithmetic the experiments apply
(median_round, cpu_per_10k), how Bench records results and notes, runs
loadgen, and skips what the build lacks, and one whole experiment (goals)
against a stand-in server and a stand-in loadgen: shell scripts that print
what the real ones print. No real server, loadgen or socket.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_experiments.py
"""

import contextlib
import io
import json
import os
import tempfile
import unittest

from bench_testing import make_executable

import bench_experiments as experiments  # found through the path bench_testing set
from bench_goals import GOAL_SIZES
from bench_registry import REGISTRY, Server

READY_SERVER = '#!/bin/sh\necho "listening on 127.0.0.1:4242"\nexec sleep 30\n'
FAILING_SERVER = '#!/bin/sh\nexit 1\n'
# Appends its arguments to loadgen-args beside it, then prints one result.
FAKE_LOADGEN = ('#!/bin/sh\necho "$@" >> "$(dirname "$0")/loadgen-args"\n'
                'echo \'{"requests": 20000, "rps": 10000.0, "p50_us": 50.0, "p99_us": 80.0, '
                '"errors": 0}\'\n')
BROKEN_LOADGEN = '#!/bin/sh\necho "loadgen: wrong reply from the server" >&2\nexit 3\n'


class Arithmetic(unittest.TestCase):
    def test_median_round(self):
        rows = [{"rps": 3.0, "round": 1, "p50_us": 30}, {"rps": 1.0, "round": 2, "p50_us": 10},
                {"rps": 2.0, "round": 3, "p50_us": 20}]
        median = experiments.median_round(rows)
        self.assertEqual((median["rps"], median["p50_us"]), (2.0, 20))  # one round's numbers, whole
        self.assertEqual((median["rps_min"], median["rps_max"], median["rounds"]), (1.0, 3.0, 3))
        self.assertNotIn("round", median)
        self.assertEqual(experiments.median_round(rows[:2])["rps"], 1.0)  # even: the lower middle
        self.assertEqual(experiments.median_round(rows[:1])["rounds"], 1)
        self.assertIn("round", rows[0])  # the rounds themselves are left as they were

    def test_cpu_per_10k(self):
        self.assertAlmostEqual(experiments.cpu_per_10k(0.5, 20000), 0.25)
        self.assertIsNone(experiments.cpu_per_10k(0.5, 0))


class BenchTest(unittest.TestCase):
    def setUp(self):
        self.build = tempfile.TemporaryDirectory()
        self.out = tempfile.TemporaryDirectory()
        self.addCleanup(self.build.cleanup)
        self.addCleanup(self.out.cleanup)
        self.stderr = io.StringIO()
        quiet = contextlib.redirect_stderr(self.stderr)  # the notes' log lines
        quiet.__enter__()
        self.addCleanup(quiet.__exit__, None, None, None)

    def bench(self, loadgen_text=FAKE_LOADGEN, quick=True):
        loadgen = make_executable(self.build.name, "part7_benchmarks/loadgen/loadgen", loadgen_text)
        bench = experiments.Bench(self.build.name, loadgen, self.out.name, quick)
        self.addCleanup(bench.jsonl.close)
        return bench

    def loadgen_args(self):
        with open(os.path.join(self.build.name, "part7_benchmarks/loadgen/loadgen-args")) as f:
            return f.read().splitlines()

    def test_every_experiment_is_a_method(self):
        self.assertEqual(experiments.EXPERIMENTS,
                         ["throughput", "nagle", "backlog", "idle", "scaling", "goals"])
        for name in experiments.EXPERIMENTS:
            self.assertTrue(callable(getattr(experiments.Bench, name)), name)

    def test_record_writes_results_jsonl_as_it_goes(self):
        bench = self.bench()
        bench.record("idle", {"server": "a", "rss_kib": 1})
        bench.record("idle", {"server": "b", "rss_kib": 2})
        with open(os.path.join(self.out.name, "results.jsonl")) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(lines[0], {"experiment": "idle", "server": "a", "rss_kib": 1})
        self.assertEqual(bench.results["idle"], lines)

    def test_a_note_is_kept_for_the_report_and_logged(self):
        bench = self.bench()
        bench.note("nagle", "only loopback")
        self.assertEqual(bench.notes, {"nagle": ["only loopback"]})
        self.assertIn("bench: nagle: only loopback\n", self.stderr.getvalue())

    def test_run_loadgen_passes_strings_and_parses_the_last_line(self):
        bench = self.bench()
        result = bench.run_loadgen(["pingpong", "--port", 4242, "--seconds", 0.5], timeout=30)
        self.assertEqual(result["requests"], 20000)
        self.assertEqual(self.loadgen_args(), ["pingpong --port 4242 --seconds 0.5 --quiet"])

    def test_a_failed_loadgen_is_an_error_with_its_message(self):
        bench = self.bench(BROKEN_LOADGEN)
        with self.assertRaises(RuntimeError) as caught:
            bench.run_loadgen(["pingpong"], timeout=30)
        self.assertEqual(str(caught.exception), "loadgen failed (3): loadgen: wrong reply from the server")

    def test_what_the_build_lacks_is_skipped_with_a_note(self):
        bench = self.bench()
        sequential = REGISTRY[0]
        bench.nagle([sequential])
        bench.chat_strategies([sequential])
        bench.client_matrix([sequential])
        bench.scaling([sequential])  # no --threads option: nothing to vary
        self.assertEqual(bench.results, {})
        self.assertEqual(bench.notes["nagle"], ["skipped: threaded-server is not built"])
        self.assertEqual(bench.notes["chat"], ["skipped: chat-server is not built"])
        self.assertEqual(bench.notes["clients"],
                         ["skipped: the Asio and Qt clients or servers are not built"])
        self.assertFalse(os.path.exists(os.path.join(self.build.name,
                                                     "part7_benchmarks/loadgen/loadgen-args")))

    def test_the_goals_experiment_against_stand_ins(self):
        make_executable(self.build.name, "fake/fake-server", READY_SERVER)
        server = Server("fake-server", 1, "fake/fake-server", "threads")
        bench = self.bench()
        bench.goals([server])
        rows = bench.results["goals"]
        self.assertEqual(len(rows), len(server.protocols) * len(GOAL_SIZES))
        for row in rows:
            self.assertEqual((row["experiment"], row["server"], row["kind"]),
                             ("goals", "fake-server", "threads"))
            self.assertGreaterEqual(row["server_cpu_s"], 0)
            self.assertAlmostEqual(row["server_cpu_per_10k_s"], row["server_cpu_s"] / 2)
        # One loadgen run per protocol and size, in that order.
        self.assertEqual(self.loadgen_args(), [
            f"pingpong --port 4242 --protocol {protocol} --seconds 0.5 --warmup 0.2 -c 1 --size {size} --quiet"
            for protocol in server.protocols for size in GOAL_SIZES])
        self.assertEqual(bench.notes["goals"], ["1 connection, nodelay off, 0.2 s warm-up + 0.5 s"])

    def test_a_server_that_does_not_start_is_noted_and_the_rest_go_on(self):
        make_executable(self.build.name, "fake/broken-server", FAILING_SERVER)
        make_executable(self.build.name, "fake/fake-server", READY_SERVER)
        broken = Server("broken-server", 1, "fake/broken-server", "threads", protocols=("shift",))
        working = Server("fake-server", 1, "fake/fake-server", "threads", protocols=("shift",))
        bench = self.bench()
        bench.goals([broken, working])
        self.assertEqual([r["server"] for r in bench.results["goals"]], ["fake-server"] * len(GOAL_SIZES))
        errors = [n for n in bench.notes["goals"] if n.startswith("broken-server")]
        self.assertEqual(len(errors), len(GOAL_SIZES))
        self.assertIn("did not print 'listening on'", errors[0])


if __name__ == "__main__":
    unittest.main()
