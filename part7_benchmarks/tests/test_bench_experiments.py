"""Tests of bench_experiments: the arithmetic the experiments apply
(median_round, median_value, median_round_and_cpu, cpu_per_10k, chat_peak,
generator_busy), how
experiments 6 and 7 choose to pin (pin_prefixes), how Bench records results
and notes, runs loadgen, and skips what the build lacks, and whole
experiments (goals, completion, percore with its published comparison,
the chat grid) against stand-in servers, a stand-in loadgen and stand-in clients: shell
scripts that print what the real ones print. No real server, loadgen or
socket.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_experiments.py
"""

import contextlib
import io
import json
import os
import re
import tempfile
import unittest
from unittest import mock

from bench_testing import PART7, chat_row, make_executable

import bench_experiments as experiments  # found through the path bench_testing set
from bench_goals import GOAL_SIZES
from bench_registry import REGISTRY, Client, Server

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
# As PINNED_SERVER, with the arguments it was started with.
ARGS_SERVER = ('#!/bin/sh\necho "${SERVER_PINNED:-unpinned} $*" >> "$(dirname "$0")/server-starts"\n'
               'echo "listening on 127.0.0.1:4242"\nexec sleep 30\n')
# A chapter's client: appends its name and arguments to client-args beside
# it and prints asio-client's JSON line, its count of requests 1000 times
# the number of client runs so far (so that rounds differ).
FAKE_CLIENT = ('#!/bin/sh\nargs="$(dirname "$0")/client-args"\n'
               'echo "$(basename "$0") $*" >> "$args"\n'
               'n=$(( $(wc -l < "$args") * 1000 ))\n'
               'echo "{\\"requests\\": $n, \\"requests_per_second\\": $((n / 10)).0, '
               '\\"errors\\": 0, \\"seconds\\": 10.0}"\n')


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

    def test_server_cpu_is_divided_by_the_requests_of_the_span_it_was_read_over(self):
        # The server's CPU is read around the whole loadgen run, warm-up
        # included: 1.2 s over 12,000 requests in all, 10,000 of them in the
        # window, is 1.0 s per 10,000, not 1.2.
        result = {"server_cpu_s": 1.2, "requests": 10000, "requests_all": 12000}
        self.assertAlmostEqual(experiments.server_cpu_per_10k(result), 1.0)
        del result["requests_all"]  # a loadgen without the count: the window's
        self.assertAlmostEqual(experiments.server_cpu_per_10k(result), 1.2)
        self.assertIsNone(experiments.server_cpu_per_10k({"server_cpu_s": 1.0, "requests": 0,
                                                          "requests_all": 0}))

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

    def test_paired_ratios_pair_rounds_by_number(self):
        # The VM halves its speed in round 2 and doubles it in round 3, for
        # both servers: each round's ratio is still 0.9.
        base = [{"rps": 100.0, "round": 1, "server_cpu_per_10k_s": 0.1},
                {"rps": 50.0, "round": 2, "server_cpu_per_10k_s": 0.2},
                {"rps": 200.0, "round": 3, "server_cpu_per_10k_s": 0.05}]
        mine = [{"rps": 90.0, "round": 1, "server_cpu_per_10k_s": 0.12},
                {"rps": 45.0, "round": 2, "server_cpu_per_10k_s": None},
                {"rps": 180.0, "round": 3, "server_cpu_per_10k_s": 0.06},
                {"rps": 999.0, "round": 4, "server_cpu_per_10k_s": 0.01}]  # no baseline round: not paired
        paired = experiments.paired_ratios(mine, base)
        self.assertAlmostEqual(paired["rps_ratio_paired"], 0.9)
        self.assertAlmostEqual(paired["rps_ratio_paired_min"], 0.9)
        self.assertAlmostEqual(paired["rps_ratio_paired_max"], 0.9)
        # CPU: rounds 1 and 3 (1.2 each); round 2 has no reading.
        self.assertAlmostEqual(paired["cpu_ratio_paired"], 1.2)
        # A baseline that served nothing, or no common round: nothing to pair.
        self.assertEqual(experiments.paired_ratios(mine, [dict(base[0], rps=0.0)]), {})
        self.assertEqual(experiments.paired_ratios(mine[3:], base), {})

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


class ChatArithmetic(unittest.TestCase):
    def test_chat_peak_finds_the_peak_and_the_lowest_cell_beyond_it(self):
        rows = [chat_row("global-lock", 300, 400, 150000.0, in_room=380),
                chat_row("global-lock", 300, 50, 200000.0),
                chat_row("global-lock", 300, 325, 360000.0, in_room=320),
                chat_row("global-lock", 300, 500, 160000.0, in_room=410),
                chat_row("global-lock", 300, 200, 300000.0)]
        self.assertEqual(experiments.chat_peak(rows), {
            "clients": 325, "in_room": 320, "rps": 360000.0, "after_clients": 400, "after_in_room": 380,
            "after_rps": 150000.0, "share": 150000.0 / 360000.0, "shape": "collapses"})

    def test_chat_peak_names_what_follows_the_peak(self):
        def shape(after_rps):
            rows = [chat_row("snapshot", 128, 50, 100.0), chat_row("snapshot", 128, 400, after_rps)]
            return experiments.chat_peak(rows)["shape"]

        self.assertEqual((experiments.CHAT_FLAT_SHARE, experiments.CHAT_COLLAPSE_SHARE), (0.8, 0.5))
        self.assertEqual(shape(80.0), "holds")       # at the flat share: holds
        self.assertEqual(shape(79.0), "falls")
        self.assertEqual(shape(50.0), "falls")       # half the peak: falls, not yet collapses
        self.assertEqual(shape(49.0), "collapses")
        self.assertEqual(shape(0.0), "collapses")
        self.assertEqual(shape(120.0), "rises")      # the peak is at the most clients
        rises = experiments.chat_peak([chat_row("queue", 10, 50, 100.0), chat_row("queue", 10, 400, 120.0)])
        self.assertEqual((rises["clients"], rises["after_clients"], rises["after_rps"], rises["share"]),
                         (400, None, None, None))

    def test_chat_peak_leaves_out_rooms_that_never_formed(self):
        never = dict(chat_row("queue", 10, 500, 0.0, in_room=1), joined=False)
        peak = experiments.chat_peak([chat_row("queue", 10, 50, 900.0), never])
        self.assertEqual((peak["clients"], peak["shape"]), (50, "rises"))
        self.assertIsNone(experiments.chat_peak([never]))
        self.assertIsNone(experiments.chat_peak([]))
        # A peak of nothing: no share to take.
        idle = experiments.chat_peak([chat_row("queue", 10, 50, 0.0), chat_row("queue", 10, 400, 0.0)])
        self.assertEqual((idle["share"], idle["shape"]), (None, "holds"))

    def test_generator_busy(self):
        self.assertAlmostEqual(experiments.generator_busy(chat_row("queue", 10, 50, 1.0, loadgen_cpu=2.7)),
                               0.9)
        self.assertIsNone(experiments.generator_busy({"seconds": 3.0}))
        self.assertIsNone(experiments.generator_busy({"loadgen_cpu_window_s": 1.0, "seconds": 0.0}))

    def test_the_closed_loop_never_fills_a_member_queue_by_load_alone(self):
        # With one message on its way per client, a member of the largest
        # room has at most (clients - 1) x in-flight frames waiting: under
        # the queue strategy's default bound, which the constant mirrors.
        with open(os.path.join(os.path.dirname(PART7), "part2_threads/chat/chat_room.hpp")) as f:
            bound = int(re.search(r"default_queue_frames = (\d+);", f.read()).group(1))
        self.assertEqual(experiments.CHAT_QUEUE_FRAMES, bound)
        most = max(experiments.CHAT_CLIENTS + experiments.CHAT_QUICK_CLIENTS)
        self.assertLess((most - 1) * experiments.CHAT_IN_FLIGHT, experiments.CHAT_QUEUE_FRAMES)

    def test_the_chat_grid_spans_the_published_axes(self):
        self.assertEqual((min(experiments.CHAT_CLIENTS), max(experiments.CHAT_CLIENTS)), (50, 500))
        self.assertEqual((min(experiments.CHAT_BACKLOGS), max(experiments.CHAT_BACKLOGS)), (10, 300))
        self.assertIn(325, experiments.CHAT_CLIENTS)  # where the published global lock peaked
        self.assertEqual(experiments.CHAT_STRATEGIES, ("global-lock", "snapshot", "queue"))


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
                         ["throughput", "nagle", "backlog", "burst", "idle", "idle_latency", "scaling",
                          "completion", "percore", "work", "goals"])
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
            # completion-server's rows carry their rounds' ratios against
            # epoll-server's same rounds; epoll-server's own rows none.
            base = next(r for r in rounds if r["server"] == "epoll-server"
                        and (r["protocol"], r["connections"]) == (row["protocol"], row["connections"]))
            if row["server"] == "epoll-server":
                self.assertNotIn("rps_ratio_paired", row)
            else:
                self.assertEqual(row["rps_ratio_paired"], row["rps"] / base["rps"])
                self.assertEqual((row["rps_ratio_paired_min"], row["rps_ratio_paired_max"]),
                                 (row["rps_ratio_paired"], row["rps_ratio_paired"]))
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
        self.assertIn("exited before printing 'listening on HOST:PORT'", errors[0])

    def test_the_percore_experiment_against_stand_ins(self):
        make_executable(self.build.name, "fake/args-server", ARGS_SERVER)
        servers = [Server("sequential-server", 1, "fake/args-server", "sequential"),
                   Server("epoll-server", 4, "fake/args-server", "event"),
                   Server("asio-server", 5, "fake/args-server", "event", threads_option=True),
                   Server("qt-server-pool", 6, "fake/args-server", "pool", args=("--threads", "2")),
                   Server("chat-server", 2, "fake/args-server", "chat", protocols=("chat",))]
        bench = self.bench(PINNED_LOADGEN)
        pinned = (("env", "SERVER_PINNED=pinned"), ("env", "LOADGEN_PINNED=pinned"), None)
        with mock.patch.object(experiments, "pin_prefixes", return_value=pinned):
            bench.percore(servers)
        shapes = [(protocol, c) for protocol in ("shift", "framed") for c in (10, 100)]
        # epoll-server first, then every other echo server in the registry's
        # order, asio-server with its default settings and with --threads 1.
        configs = [("epoll-server", "default"), ("sequential-server", "default"),
                   ("asio-server", "default"), ("asio-server", "--threads 1"),
                   ("qt-server-pool", "default")]
        rounds = bench.results["percore_rounds"]
        self.assertEqual([(r["server"], r["settings"], r["protocol"], r["connections"]) for r in rounds],
                         [(*config, *shape) for shape in shapes for config in configs])
        self.assertTrue(all(r["round"] == 1 and r["pinned"] for r in rounds))
        medians = bench.results["percore"]
        self.assertEqual(len(medians), len(rounds))
        self.assertTrue(all(r["rounds"] == 1 and "server_cpu_per_10k_median_s" in r for r in medians))
        # The server's own arguments, then the configuration's, then the protocol.
        with open(os.path.join(self.build.name, "fake/server-starts")) as f:
            starts = f.read().splitlines()
        self.assertEqual(starts[:len(configs)], [
            "pinned --port 0 --quiet --protocol shift",
            "pinned --port 0 --quiet --protocol shift",
            "pinned --port 0 --quiet --protocol shift",
            "pinned --port 0 --quiet --threads 1 --protocol shift",
            "pinned --port 0 --quiet --threads 2 --protocol shift"])
        self.assertEqual(len(starts), len(rounds))
        self.assertEqual(self.loadgen_args(), [
            f"pinned pingpong --port 4242 --protocol {protocol} --seconds 1.0 --warmup 0.3 "
            f"-c {c} --size 16 --threads 1 --quiet"
            for protocol, c in shapes for _ in configs])
        notes = bench.notes["percore"]
        self.assertEqual(notes[0], "pinned with taskset: the server to CPU 0 (taskset -c 0), "
                         "loadgen with --threads 1 to CPU 1 (taskset -c 1)")
        self.assertIn("1 round(s), each shape on every server back to back, epoll-server first", notes[1])
        self.assertEqual(len(notes), 2)
        # The published comparison follows; here it has neither client nor qt-server-threads.
        self.assertEqual(bench.notes["percore_published"], [
            "asio-client -> asio-server skipped: asio-client not built",
            "qt-client -> qt-server-threads skipped: qt-server-threads not built"])
        self.assertNotIn("percore_published", bench.results)

    def test_the_percore_experiment_needs_its_baseline(self):
        bench = self.bench()
        bench.percore([REGISTRY[0]])
        self.assertEqual(bench.results, {})
        self.assertEqual(bench.notes["percore"],
                         ["skipped: epoll-server (the baseline of every ratio) not built"])
        self.assertFalse(os.path.exists(os.path.join(self.build.name,
                                                     "part7_benchmarks/loadgen/loadgen-args")))

    def test_the_published_comparison_against_stand_in_clients(self):
        make_executable(self.build.name, "fake/args-server", ARGS_SERVER)
        clients = [Client(name, chapter, f"fake/{name}") for name, chapter in (("asio-client", 5),
                                                                                ("qt-client", 6))]
        for client in clients:
            make_executable(self.build.name, client.path, FAKE_CLIENT)
        servers = [Server(name, chapter, "fake/args-server", kind) for name, chapter, kind in
                   (("asio-server", 5, "event"), ("qt-server-threads", 6, "threads"))]
        loadgen = make_executable(self.build.name, "part7_benchmarks/loadgen/loadgen", FAKE_LOADGEN)
        bench = experiments.Bench(self.build.name, loadgen, self.out.name, False, clients)
        self.addCleanup(bench.jsonl.close)
        bench.percore_published(servers)
        # Three rounds (a full run), each: 1 connection then 10, each on both pairs.
        runs = [(client, c) for _ in range(3) for c in (1, 10) for client in ("asio-client", "qt-client")]
        with open(os.path.join(self.build.name, "fake/client-args")) as f:
            self.assertEqual(f.read().splitlines(), [
                f"{client} 4242 --protocol framed --clients {c} --seconds 10.0 --payload-bytes 10"
                for client, c in runs])
        with open(os.path.join(self.build.name, "fake/server-starts")) as f:
            self.assertEqual(f.read().splitlines(), ["unpinned --port 0 --quiet --protocol framed"] * 12)
        rounds = bench.results["percore_published_rounds"]
        self.assertEqual([(r["client"], r["connections"], r["round"], r["requests"]) for r in rounds],
                         [(client, c, n // 4 + 1, (n + 1) * 1000) for n, (client, c) in enumerate(runs)])
        # asio-client at 1 connection counted 1000, 5000 and 9000: the median round is 5000.
        medians = bench.results["percore_published"]
        self.assertEqual([(r["client"], r["server"], r["connections"], r["requests"], r["requests_min"],
                           r["requests_max"], r["rounds"], r["payload_bytes"]) for r in medians], [
            ("asio-client", "asio-server", 1, 5000, 1000, 9000, 3, 10),
            ("asio-client", "asio-server", 10, 7000, 3000, 11000, 3, 10),
            ("qt-client", "qt-server-threads", 1, 6000, 2000, 10000, 3, 10),
            ("qt-client", "qt-server-threads", 10, 8000, 4000, 12000, 3, 10)])
        self.assertNotIn("round", medians[0])
        self.assertEqual(bench.notes["percore_published"], [
            "measured as the published benchmark counts: the requests one client process completed in "
            "10 s, no warm-up, framed, 10-byte payloads, nodelay off, client and server not pinned, on "
            "this one host over loopback; clients: asio-client -> asio-server, qt-client -> "
            "qt-server-threads, each with --clients 1 and 10; 3 round(s), the round with the median "
            "count shown"])



# As loadgen does, echoes its connection count in its result (pingpong) or
# holds as many idle connections as asked (idle: ready on stderr, its
# result when stopped); appends its arguments to loadgen-args beside it.
COUNTING_LOADGEN = ('#!/bin/sh\necho "$@" >> "$(dirname "$0")/loadgen-args"\n'
                    'mode=$1 c=1\n'
                    'while [ $# -gt 0 ]; do\n'
                    '  case "$1" in -c) c=$2 ;; esac\n'
                    '  shift\n'
                    'done\n'
                    'if [ "$mode" = idle ]; then\n'
                    '  trap \'echo "{\\"held_at_end\\": $c, \\"ready\\": $c, \\"connect_failures\\": 0}"; '
                    'exit 0\' TERM\n'
                    '  echo "loadgen: ready: holding $c connections" >&2\n'
                    '  while :; do sleep 0.05; done\n'
                    'fi\n'
                    'echo "{\\"connections\\": $c, \\"connections_served\\": $c, \\"requests\\": 20000, '
                    '\\"rps\\": 10000.0, \\"p50_us\\": 50.0, \\"p99_us\\": 80.0, \\"errors\\": 0}"\n')
# As READY_SERVER, and appends its arguments to server-args beside it.
RECORDING_SERVER = ('#!/bin/sh\necho "$@" >> "$(dirname "$0")/server-args"\n'
               'echo "listening on 127.0.0.1:4242"\nexec sleep 30\n')


class WorkArithmetic(unittest.TestCase):
    def test_median_round_and_latency_takes_each_percentile_over_the_rounds(self):
        rows = [{"rps": 100.0, "round": 1, "p50_us": 10.0, "p99_us": 900.0, "server_cpu_per_10k_s": 0.3,
                 "connections_served": 10},
                {"rps": 300.0, "round": 2, "p50_us": 30.0, "p99_us": 100.0, "server_cpu_per_10k_s": 0.1,
                 "connections_served": 4},
                {"rps": 200.0, "round": 3, "p50_us": 20.0, "p99_us": 500.0, "server_cpu_per_10k_s": None,
                 "connections_served": 10}]
        chosen = experiments.median_round_and_latency(rows)
        # The median round keeps its own readings; the medians over the rounds are beside them.
        self.assertEqual((chosen["rps"], chosen["p50_us"], chosen["p99_us"]), (200.0, 20.0, 500.0))
        self.assertEqual((chosen["p50_median_us"], chosen["p99_median_us"]), (20.0, 500.0))
        self.assertEqual(chosen["server_cpu_per_10k_median_s"], 0.1)  # the lower middle of two
        self.assertEqual((chosen["rps_min"], chosen["rps_max"], chosen["rounds"]), (100.0, 300.0, 3))
        # Round 2 left 6 connections waiting: the median row says so although its own round did not.
        self.assertEqual((chosen["connections_served"], chosen["connections_served_min"]), (10, 4))
        self.assertNotIn("round", chosen)
        chosen = experiments.median_round_and_latency(rows[:1], lowest=("connections_served", "idle_held"))
        self.assertEqual(chosen["p99_median_us"], 900.0)
        self.assertEqual((chosen["connections_served_min"], chosen["idle_held_min"]), (10, None))

    def test_work_ceiling(self):
        self.assertEqual(experiments.work_ceiling(1000, 2), 2000.0)
        self.assertEqual(experiments.work_ceiling(10, 4), 400000.0)
        self.assertIsNone(experiments.work_ceiling(0, 2))  # no work, no ceiling from it
        self.assertIsNone(experiments.work_ceiling(100, None))

    def test_fewest_served(self):
        self.assertIsNone(experiments.fewest_served({"connections": 10, "connections_served": 10,
                                                     "connections_served_min": 10}))
        self.assertEqual(experiments.fewest_served({"connections": 10, "connections_served": 10,
                                                    "connections_served_min": 4}), 4)
        self.assertEqual(experiments.fewest_served({"connections": 100, "connections_served": 1}), 1)
        self.assertIsNone(experiments.fewest_served({"connections": 10}))  # nothing says


class ChatGridExperiment(unittest.TestCase):
    setUp = BenchTest.setUp
    bench = BenchTest.bench
    loadgen_args = BenchTest.loadgen_args

    def test_the_chat_grid_against_stand_ins(self):
        make_executable(self.build.name, "fake/fake-server", RECORDING_SERVER)
        servers = [Server("one-server", 1, "fake/fake-server", "sequential"),
                   Server("chat-server", 2, "fake/fake-server", "chat", protocols=("chat",))]
        bench = self.bench(COUNTING_LOADGEN)
        bench.chat_strategies(servers)
        cells = [(s, b, c) for s in experiments.CHAT_STRATEGIES for b in experiments.CHAT_QUICK_BACKLOGS
                 for c in experiments.CHAT_QUICK_CLIENTS]
        self.assertEqual([(r["broadcast"], r["backlog"], r["connections"]) for r in bench.results["chat"]],
                         cells)
        self.assertEqual({r["server"] for r in bench.results["chat"]}, {"chat-server"})
        # Every client in the room sends, in a closed loop: no --rate.
        self.assertEqual(self.loadgen_args(), [
            f"chat --port 4242 -c {c} --senders 0 --in-flight 1 --size 128 --seconds 1.0 --warmup 0.3 "
            "--drain 10.0 --join-timeout 1.0 --quiet" for _, _, c in cells])
        with open(os.path.join(self.build.name, "fake/server-args")) as f:
            self.assertEqual(f.read().splitlines(),
                             [f"--port 0 --quiet --broadcast {s} --backlog {b}" for s, b, _ in cells])
        self.assertEqual(len(bench.notes["chat"]), 1)
        self.assertTrue(bench.notes["chat"][0].startswith(
            "saturated: every client in the room sends 128-byte messages in a closed loop, 1 on its way "
            "at a time"), bench.notes["chat"][0])
        self.assertIn("0.3 s warm-up + 1.0 s measured", bench.notes["chat"][0])
        self.assertIn("within 10 s is given up and counted lost", bench.notes["chat"][0])


class WorkAndIdleLatencyExperiments(unittest.TestCase):
    setUp = BenchTest.setUp
    bench = BenchTest.bench
    loadgen_args = BenchTest.loadgen_args

    def server_args(self):
        with open(os.path.join(self.build.name, "fake/server-args")) as f:
            return f.read().splitlines()

    def test_the_work_experiment_against_stand_ins(self):
        make_executable(self.build.name, "fake/fake-server", RECORDING_SERVER)
        servers = [Server("one-server", 1, "fake/fake-server", "sequential"),
                   Server("framed-only", 1, "fake/fake-server", "event", protocols=("framed",)),
                   Server("pool-server", 3, "fake/fake-server", "pool", args=("--threads", "4")),
                   Server("chat-server", 2, "fake/fake-server", "chat", protocols=("chat",))]
        bench = self.bench(COUNTING_LOADGEN)
        with mock.patch.object(experiments.os, "sched_getaffinity", return_value={0, 1}):
            bench.work(servers)
        shapes = [(c, w) for c in experiments.WORK_CONNECTIONS for w in experiments.WORK_US]
        # One round (quick): each point on every shift echo server before the next point.
        rounds = bench.results["work_rounds"]
        self.assertEqual([(r["server"], r["connections"], r["work_us"]) for r in rounds],
                         [(server, c, w) for c, w in shapes for server in ("one-server", "pool-server")])
        self.assertEqual({(r["round"], r["cpus"]) for r in rounds}, {(1, 2)})
        self.assertEqual(self.loadgen_args(), [
            f"pingpong --port 4242 --protocol shift --seconds 0.7 --warmup 0.3 -c {c} --size 64 "
            "--threads 1 --quiet" for c, _ in shapes for _ in range(2)])
        self.assertEqual(self.server_args(), [
            f"--port 0 --quiet {args}--work-us {w} --protocol shift"
            for _, w in shapes for args in ("", "--threads 4 ")])
        medians = bench.results["work"]
        self.assertEqual(len(medians), len(rounds))
        for row in medians:
            self.assertEqual((row["rounds"], row["p99_median_us"], row["connections_served_min"]),
                             (1, 80.0, row["connections"]))
        self.assertEqual(bench.notes["work"], [
            "shift, 64-byte requests, nodelay off, loadgen with one thread, not pinned; 16 runs of "
            "0.3 s warm-up + 0.7 s measured, each server started afresh with --work-us N; 1 round(s), "
            "each point on every server before the next point; the median round's requests/s, the "
            "medians of p50 and p99 over the rounds; 2 CPUs available to the servers and loadgen"])

    def test_the_idle_latency_experiment_against_stand_ins(self):
        make_executable(self.build.name, "fake/fake-server", RECORDING_SERVER)
        servers = [Server(name, 4, "fake/fake-server", kind)
                   for name, kind in (("qt-server", "event"), ("threaded-server", "threads"),
                                      ("epoll-server", "event"))]
        bench = self.bench(COUNTING_LOADGEN)
        with mock.patch.object(experiments.resource, "getrlimit", return_value=(65536, 65536)):
            bench.idle_latency(servers)
        # Only the servers it compares, in IDLE_LATENCY_SERVERS' order; asio-server is not built.
        pingpong = ("pingpong --port 4242 --protocol shift --seconds 1.0 --warmup 0.3 -c 1 --size 64 "
                    "--nodelay --quiet")
        expected = []
        for count in experiments.IDLE_LATENCY_COUNTS:
            for _ in ("epoll-server", "qt-server"):
                if count:
                    expected.append(f"idle --port 4242 -c {count} --seconds 0 --connect-timeout 10")
                expected.append(pingpong)
        self.assertEqual(self.loadgen_args(), expected)
        self.assertEqual(set(self.server_args()), {"--port 0 --quiet --protocol shift"})
        rounds = bench.results["idle_latency_rounds"]
        self.assertEqual([(r["server"], r["idle_connections"], r["idle_held"], r["idle_greeted"])
                          for r in rounds],
                         [(server, n, n, n) for n in experiments.IDLE_LATENCY_COUNTS
                          for server in ("epoll-server", "qt-server")])
        for row in bench.results["idle_latency"]:
            self.assertEqual(row["idle_held_min"], row["idle_connections"])
            self.assertEqual(row["idle_greeted_min"], row["idle_connections"])
            self.assertEqual((row["p50_median_us"], row["p99_median_us"]), (50.0, 80.0))
            self.assertAlmostEqual(row["server_cpu_per_10k_s"], row["server_cpu_s"] / 2)
        notes = bench.notes["idle_latency"]
        self.assertEqual(notes[0], "left out, not built: asio-server")
        self.assertEqual(notes[1], "one active connection: 64-byte shift requests, nodelay on, 0.3 s "
                         "warm-up + 1.0 s measured, beside idle connections opened and greeted before it "
                         "starts; each server started afresh with its default backlog; 1 round(s), each count "
                         "on every server before the next count; the median round's requests/s, the "
                         "medians of p50, p99 and server CPU over the rounds")
        self.assertEqual(len(notes), 2)

    def test_idle_latency_skips_what_the_open_files_cannot_hold_and_what_is_not_built(self):
        make_executable(self.build.name, "fake/fake-server", RECORDING_SERVER)
        bench = self.bench(COUNTING_LOADGEN)
        bench.idle_latency([Server("threaded-server", 2, "fake/fake-server", "threads")])
        self.assertEqual(bench.notes["idle_latency"],
                         ["left out, not built: epoll-server, asio-server, qt-server"])
        self.assertEqual(bench.results, {})
        with mock.patch.object(experiments.resource, "getrlimit", return_value=(1024, 1024)):
            bench.idle_latency([Server("qt-server", 6, "fake/fake-server", "event")])
        self.assertEqual(bench.notes["idle_latency"][1:4], [
            "left out, not built: epoll-server, asio-server",
            "1000 idle connections skipped: the open-file hard limit is 1024",
            "10000 idle connections skipped: the open-file hard limit is 1024"])
        self.assertEqual([r["idle_connections"] for r in bench.results["idle_latency"]], [0])


# The burst check's stand-ins. BURST_SERVER appends its arguments to
# burst-server-args beside it and answers --help with a pool's --threads
# default, as CLI11 prints it. BURST_LOADGEN appends its arguments to
# loadgen-args and prints a loadgen burst result whose served count falls by
# one per call (399, 398, ...), so each round differs.
BURST_SERVER = ('#!/bin/sh\necho "$@" >> "$(dirname "$0")/burst-server-args"\n'
                'if [ "$1" = --help ]; then\n'
                '  printf "  --threads UINT:UINT in [1 - 1024]=16\\n     Worker threads\\n"; exit 0\n'
                'fi\n'
                'echo "listening on 127.0.0.1:4242"\nexec sleep 30\n')
BURST_LOADGEN = ('#!/bin/sh\nlog="$(dirname "$0")/loadgen-args"\necho "$@" >> "$log"\n'
                 'served=$((400 - $(wc -l < "$log")))\n'
                 'rate=$(awk -v s=$served \'BEGIN { printf "%.4f", s / 400 }\')\n'
                 'echo "{\\"mode\\": \\"burst\\", \\"connections\\": 400, \\"timeout_s\\": 2.0, '
                 '\\"served\\": $served, \\"success_rate\\": $rate, \\"refused\\": 0, '
                 '\\"timed_out\\": $((400 - served)), \\"errors\\": 0, \\"p50_us\\": 2000.0, '
                 '\\"max_us\\": 1010000.0}"\n')


class BurstArithmetic(unittest.TestCase):
    def test_help_default_reads_the_value_cli11_prints(self):
        text = ("Options:\n  --threads UINT:UINT in [1 - 1024]=16\n"
                "                              Worker threads\n"
                "  --threads-per-core UINT=3\n  --backlog INT:INT in [1 - 65535]=4096\n")
        self.assertEqual(experiments.help_default(text, "--threads"), 16)
        self.assertEqual(experiments.help_default(text, "--backlog"), 4096)
        self.assertIsNone(experiments.help_default(text, "--max-clients"))
        self.assertIsNone(experiments.help_default("  --threads UINT  Worker threads\n", "--threads"))

    def test_design_limit(self):
        self.assertEqual(experiments.design_limit("sequential", None), 1)
        self.assertEqual(experiments.design_limit("pool", 16), 16)
        self.assertIsNone(experiments.design_limit("pool", None))  # a pool whose size is unknown
        for kind in ("threads", "event", "completion", "coroutine"):
            self.assertIsNone(experiments.design_limit(kind, 4), kind)

    def test_burst_summary(self):
        rounds = [{"server": "s", "kind": "pool", "round": n, "connections": 400, "timeout_s": 2.0,
                   "served": served, "success_rate": served / 400, "refused": refused,
                   "timed_out": 400 - served - refused, "errors": 0, "max_us": max_us}
                  for n, served, refused, max_us in ((1, 390, 4, 1.2e6), (2, 300, 10, 1.5e6),
                                                     (3, 400, 0, 0.3e6), (4, 0, 0, 0.0))]
        row = experiments.burst_summary(rounds[:3], 16, 3)
        self.assertEqual((row["server"], row["kind"], row["connections"], row["timeout_s"]),
                         ("s", "pool", 400, 2.0))
        self.assertEqual((row["rounds"], row["rounds_planned"]), (3, 3))
        self.assertEqual((row["success_rate_min"], row["success_rate_median"], row["success_rate_max"]),
                         (0.75, 0.975, 1.0))
        # The worst round's losses, and the slowest client served in any round.
        self.assertEqual((row["served_min"], row["refused_worst"], row["timed_out_worst"],
                          row["errors_worst"]), (300, 10, 90, 0))
        self.assertEqual(row["max_us"], 1.5e6)
        self.assertEqual((row["limited"], row["serves_at_once"]), (True, 16))
        # Two rounds: the lower middle, a share some round measured. A round
        # that served no one has no time to serve; with none served, no time.
        row = experiments.burst_summary([rounds[3], rounds[2]], None, 3)
        self.assertEqual((row["success_rate_median"], row["rounds"], row["max_us"]), (0.0, 2, 0.3e6))
        self.assertIsNone(experiments.burst_summary(rounds[3:], None, 1)["max_us"])
        self.assertFalse(experiments.burst_summary([dict(rounds[2], kind="event")], None, 1)["limited"])


class BurstExperiment(unittest.TestCase):
    setUp = BenchTest.setUp
    bench = BenchTest.bench
    loadgen_args = BenchTest.loadgen_args

    def servers(self):
        make_executable(self.build.name, "fake/burst-server", BURST_SERVER)
        return [Server("event-server", 4, "fake/burst-server", "event"),
                Server("pool-server", 3, "fake/burst-server", "pool", args=("--threads", "4"),
                       threads_option=True),
                Server("one-server", 1, "fake/burst-server", "sequential"),
                Server("chat-server", 2, "fake/burst-server", "chat", protocols=("chat",))]

    def server_args(self):
        with open(os.path.join(self.build.name, "fake/burst-server-args")) as f:
            return f.read().splitlines()

    def test_the_burst_check_against_stand_ins(self):
        bench = self.bench(BURST_LOADGEN, quick=False)
        bench.burst(self.servers())
        echo = ("event-server", "pool-server", "one-server")
        # A full run: three rounds, each over every echo server before the next.
        rounds = bench.results["burst_rounds"]
        self.assertEqual([(r["round"], r["server"]) for r in rounds],
                         [(n, name) for n in (1, 2, 3) for name in echo])
        self.assertEqual([r["served"] for r in rounds], list(range(399, 390, -1)))
        self.assertEqual(self.loadgen_args(),
                         ["burst --port 4242 -c 400 --timeout 2.0 --quiet"] * 9)
        # Each server started with its defaults: not even the registry's
        # --threads 4. Only the pool's --help is read, for its size.
        self.assertEqual(self.server_args(), ["--help"] + ["--port 0 --quiet --protocol shift"] * 9)
        rows = {r["server"]: r for r in bench.results["burst"]}
        self.assertEqual(list(rows), list(echo))
        event = rows["event-server"]  # served 399, 396, 393
        self.assertEqual((event["success_rate_min"], event["success_rate_median"], event["success_rate_max"]),
                         (0.9825, 0.99, 0.9975))
        self.assertEqual((event["rounds"], event["rounds_planned"], event["served_min"],
                          event["timed_out_worst"]), (3, 3, 393, 7))
        self.assertEqual((event["limited"], event["serves_at_once"]), (False, None))
        self.assertEqual((rows["pool-server"]["limited"], rows["pool-server"]["serves_at_once"]), (True, 16))
        self.assertEqual((rows["one-server"]["limited"], rows["one-server"]["serves_at_once"]), (True, 1))
        self.assertEqual(len(bench.notes["burst"]), 1)
        self.assertIn("400 connects at once, shift;", bench.notes["burst"][0])
        self.assertIn("within 2 s; every server with its default settings", bench.notes["burst"][0])
        self.assertIn("3 round(s), one over all servers after another", bench.notes["burst"][0])

    def test_a_quick_run_makes_one_round_and_notes_a_server_that_did_not_start(self):
        make_executable(self.build.name, "fake/broken-server", FAILING_SERVER)
        servers = self.servers()[:1] + [Server("broken-server", 1, "fake/broken-server", "threads")]
        bench = self.bench(BURST_LOADGEN)
        bench.burst(servers)
        self.assertEqual([(r["round"], r["server"]) for r in bench.results["burst_rounds"]],
                         [(1, "event-server")])
        self.assertEqual([(r["server"], r["rounds"], r["rounds_planned"]) for r in bench.results["burst"]],
                         [("event-server", 1, 1)])
        self.assertTrue(bench.notes["burst"][0].startswith("broken-server round 1: "))
        self.assertIn("exited before printing 'listening on HOST:PORT'", bench.notes["burst"][0])
        self.assertIn("1 round(s)", bench.notes["burst"][1])


if __name__ == "__main__":
    unittest.main()
