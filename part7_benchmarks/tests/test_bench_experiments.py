"""Tests of bench_experiments: the arithmetic the experiments apply
(median_round, median_value, median_round_and_cpu, cpu_per_10k), how
experiment 6 chooses to pin (pin_prefixes), how Bench records results and
notes, runs loadgen, and skips what the build lacks, and two whole
experiments (goals, completion) against stand-in servers and a stand-in
loadgen: shell scripts that print what the real ones print. No real server,
loadgen or socket.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_experiments.py
"""

import contextlib
import io
import json
import os
import tempfile
import unittest
from unittest import mock

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
# As READY_SERVER, and appends to server-starts beside it whether it was
# started under the stand-in pinning prefix (env SERVER_PINNED=pinned).
PINNED_SERVER = ('#!/bin/sh\necho "${SERVER_PINNED:-unpinned}" >> "$(dirname "$0")/server-starts"\n'
                 'echo "listening on 127.0.0.1:4242"\nexec sleep 30\n')
# As FAKE_LOADGEN, prefixed with $LOADGEN_PINNED; in idle mode it says it is
# ready on stderr, as loadgen does, and prints its result when stopped.
PINNED_LOADGEN = ('#!/bin/sh\necho "${LOADGEN_PINNED:-unpinned} $@" >> "$(dirname "$0")/loadgen-args"\n'
                  'if [ "$1" = idle ]; then\n'
                  '  trap \'echo "{\\"held_at_end\\": 1000, \\"ready\\": 1000, '
                  '\\"connect_failures\\": 0}"; exit 0\' TERM\n'
                  '  echo "loadgen: ready: holding 1000 connections" >&2\n'
                  '  while :; do sleep 0.05; done\n'
                  'fi\n'
                  'echo \'{"requests": 20000, "rps": 10000.0, "p50_us": 50.0, "p99_us": 80.0, '
                  '"errors": 0, "connections_served": 1}\'\n')
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

    def test_median_value(self):
        self.assertEqual(experiments.median_value([0.3, None, 0.1, 0.2]), 0.2)
        self.assertEqual(experiments.median_value([0.4, 0.1, 0.3, 0.2]), 0.2)  # even: the lower middle
        self.assertEqual(experiments.median_value([0.7]), 0.7)
        self.assertIsNone(experiments.median_value([]))
        self.assertIsNone(experiments.median_value([None, None]))

    def test_median_round_and_cpu_takes_the_cpu_median_over_the_rounds_on_its_own(self):
        # The first round, the median round and the median CPU are three different readings.
        rows = [{"rps": 100.0, "round": 1, "server_cpu_per_10k_s": 0.1},
                {"rps": 200.0, "round": 2, "server_cpu_per_10k_s": 0.9},
                {"rps": 300.0, "round": 3, "server_cpu_per_10k_s": 0.5},
                {"rps": 50.0, "round": 4, "server_cpu_per_10k_s": None}]
        chosen = experiments.median_round_and_cpu(rows[:3])
        # The median round (200/s) keeps its own reading; the median over the rounds is beside it.
        self.assertEqual((chosen["rps"], chosen["server_cpu_per_10k_s"]), (200.0, 0.9))
        self.assertEqual(chosen["server_cpu_per_10k_median_s"], 0.5)
        self.assertEqual((chosen["rps_min"], chosen["rps_max"], chosen["rounds"]), (100.0, 300.0, 3))
        self.assertNotIn("round", chosen)
        # A round without a CPU reading counts for the rate, not for the CPU median.
        chosen = experiments.median_round_and_cpu(rows)
        self.assertEqual((chosen["rps"], chosen["rounds"]), (100.0, 4))
        self.assertEqual(chosen["server_cpu_per_10k_median_s"], 0.5)
        self.assertIsNone(experiments.median_round_and_cpu(rows[3:])["server_cpu_per_10k_median_s"])

    def test_pin_prefixes(self):
        self.assertEqual(experiments.pin_prefixes({0, 1, 2, 3}, "/usr/bin/taskset"),
                         (("/usr/bin/taskset", "-c", "0"), ("/usr/bin/taskset", "-c", "1"), None))
        self.assertEqual(experiments.pin_prefixes({0}, "/usr/bin/taskset"),
                         ((), (), "the runner may not use CPU 1 (it may use 1: [0])"))
        self.assertEqual(experiments.pin_prefixes({2, 3}, "/usr/bin/taskset")[2],
                         "the runner may not use CPU 0, 1 (it may use 2: [2, 3])")
        self.assertEqual(experiments.pin_prefixes({0, 1}, None),
                         ((), (), "taskset is not installed (util-linux)"))

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
                         ["throughput", "nagle", "backlog", "idle", "scaling", "completion", "goals"])
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
        bench.completion([sequential, next(s for s in REGISTRY if s.name == "epoll-server")])
        self.assertEqual(bench.results, {})
        self.assertEqual(bench.notes["completion"], ["skipped: completion-server not built"])
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

    def test_idle_is_skipped_with_a_note_when_the_open_files_cannot_hold_it(self):
        bench = self.bench()
        with mock.patch.object(experiments.resource, "getrlimit", return_value=(1024, 1024)):
            row = bench.idle_measured("completion", REGISTRY[0], 10000)
        self.assertIsNone(row)
        self.assertEqual(bench.notes, {"completion": [
            "10000 connections skipped: the open-file hard limit is 1024"]})

    def completion_servers(self):
        make_executable(self.build.name, "fake/pinned-server", PINNED_SERVER)
        return [Server(name, 4, "fake/pinned-server", kind)
                for name, kind in (("completion-server", "completion"), ("epoll-server", "event"))]

    def test_the_completion_experiment_against_stand_ins(self):
        bench = self.bench(PINNED_LOADGEN)
        pinned = (("env", "SERVER_PINNED=pinned"), ("env", "LOADGEN_PINNED=pinned"), None)
        with mock.patch.object(experiments, "pin_prefixes", return_value=pinned):
            bench.completion(self.completion_servers())
        shapes = [(protocol, c) for protocol in ("shift", "framed") for c in (1, 10, 100)]
        # One round (quick): each shape on epoll-server, then completion-server.
        rounds = bench.results["completion_rounds"]
        self.assertEqual([(r["server"], r["protocol"], r["connections"]) for r in rounds],
                         [(server, *shape) for shape in shapes
                          for server in ("epoll-server", "completion-server")])
        for row in rounds:
            self.assertEqual((row["round"], row["pinned"]), (1, True))
        medians = bench.results["completion"]
        self.assertEqual(len(medians), len(rounds))
        for row in medians:
            self.assertEqual(row["rounds"], 1)
            self.assertNotIn("round", row)
            self.assertEqual(row["server_cpu_per_10k_median_s"], row["server_cpu_per_10k_s"])
        self.assertEqual(self.loadgen_args()[:len(rounds)], [
            f"pinned pingpong --port 4242 --protocol {protocol} --seconds 1.0 --warmup 0.3 "
            f"-c {c} --size 16 --threads 1 --quiet"
            for protocol, c in shapes for _ in range(2)])
        # Then idle memory, as experiment 4 measures it: not pinned, 1,000 connections.
        self.assertEqual(self.loadgen_args()[len(rounds):], [
            "unpinned idle --port 4242 -c 1000 --seconds 0 --connect-timeout 10"] * 2)
        with open(os.path.join(self.build.name, "fake/server-starts")) as f:
            self.assertEqual(f.read().splitlines(), ["pinned"] * len(rounds) + ["unpinned"] * 2)
        self.assertEqual([(r["server"], r["connections"], r["held"]) for r in bench.results["completion_idle"]],
                         [("epoll-server", 1000, 1000), ("completion-server", 1000, 1000)])
        notes = bench.notes["completion"]
        self.assertEqual(notes[0], "pinned with taskset: the server to CPU 0 (taskset -c 0), "
                         "loadgen with --threads 1 to CPU 1 (taskset -c 1)")
        self.assertIn("1 round(s)", notes[1])
        self.assertEqual(notes[2], "idle memory: 1000 idle connections, measured as experiment 4 "
                         "measures it (not pinned)")
        self.assertEqual(len(notes), 3)

    def test_the_completion_experiment_says_when_it_could_not_pin(self):
        make_executable(self.build.name, "fake/fake-server", READY_SERVER)
        servers = [Server(name, 4, "fake/fake-server", "event")
                   for name in ("epoll-server", "completion-server")]
        bench = self.bench()
        unpinned = ((), (), "taskset is not installed (util-linux)")
        with mock.patch.object(experiments, "pin_prefixes", return_value=unpinned), \
                mock.patch.object(bench, "idle_measured", return_value=None):
            bench.completion(servers)
        self.assertEqual(len(bench.results["completion"]), 12)
        self.assertFalse(any(r["pinned"] for r in bench.results["completion_rounds"]))
        self.assertEqual(bench.notes["completion"][0],
                         "not pinned: taskset is not installed (util-linux); the server and loadgen "
                         "(--threads 1) shared the CPUs as the scheduler chose")

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
