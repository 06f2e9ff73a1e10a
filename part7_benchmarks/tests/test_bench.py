"""Unit tests of bench.py's pure parts: the registry and its skip logic,
ratio and number formatting, Markdown tables, CPU per request, the
performance goals' verdicts, and the report's text (that it names skipped
servers and states each baseline).
No server and no loadgen run here.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench.py
"""

import os
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import bench  # noqa: E402


def make_executable(root, relative):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


class Registry(unittest.TestCase):
    def test_names_are_unique_and_paths_relative(self):
        names = [s.name for s in bench.REGISTRY]
        self.assertEqual(len(names), len(set(names)))
        for server in bench.REGISTRY:
            self.assertFalse(os.path.isabs(server.path), server)
            self.assertTrue(server.path.endswith(server.name), server)

    def test_lists_parts_one_to_three_and_the_later_servers(self):
        names = {s.name for s in bench.REGISTRY}
        for expected in ("sequential-server", "threaded-server", "threadpool-server", "chat-server",
                         "epoll-server", "completion-server", "asio-server", "asio-server-coro",
                         "qt-server", "qt-server-threads", "qt-server-pool"):
            self.assertIn(expected, names)
        self.assertIn(bench.BASELINE_SERVER, names)

    def test_a_missing_binary_is_skipped_with_its_reason(self):
        with tempfile.TemporaryDirectory() as build:
            make_executable(build, "part1_sequential/sequential-server")
            present, skipped = bench.split_available(bench.REGISTRY, build)
        self.assertEqual([s.name for s in present], ["sequential-server"])
        self.assertEqual(len(skipped), len(bench.REGISTRY) - 1)
        reasons = {s.name: reason for s, reason in skipped}
        self.assertIn("part4_iocp/epoll/epoll-server", reasons["epoll-server"])

    def test_a_file_that_is_not_executable_is_skipped(self):
        with tempfile.TemporaryDirectory() as build:
            path = os.path.join(build, "part1_sequential", "sequential-server")
            os.makedirs(os.path.dirname(path))
            open(path, "w").close()
            present, _ = bench.split_available(bench.REGISTRY[:1], build)
        self.assertEqual(present, [])

    def test_the_client_matrix_names_built_clients_and_servers(self):
        names = {s.name for s in bench.REGISTRY}
        for server in bench.MATRIX_SERVERS:
            self.assertIn(server, names)
        self.assertEqual([c.name for c in bench.CLIENTS], ["asio-client", "qt-client"])
        with tempfile.TemporaryDirectory() as build:
            make_executable(build, "part5_asio/asio-client")
            present, skipped = bench.split_available(bench.CLIENTS, build)
        self.assertEqual([c.name for c in present], ["asio-client"])
        self.assertIn("part6_qt/qt-client", skipped[0][1])

    def test_check_registry_fails_until_every_binary_is_built(self):
        with tempfile.TemporaryDirectory() as build:
            for entry in bench.REGISTRY + bench.CLIENTS:
                make_executable(build, entry.path)
            self.assertEqual(bench.check_registry(build), 1)  # loadgen is still missing
            make_executable(build, "part7_benchmarks/loadgen/loadgen")
            self.assertEqual(bench.check_registry(build), 0)
            os.remove(os.path.join(build, "part6_qt/qt-client"))
            self.assertEqual(bench.check_registry(build), 1)

    def test_echo_servers_leave_out_the_chat_server(self):
        self.assertNotIn("chat", {s.kind for s in bench.echo_servers(bench.REGISTRY)})


class Formatting(unittest.TestCase):
    def test_ratios(self):
        self.assertEqual(bench.format_ratio(250, 100), "x2.50")
        self.assertEqual(bench.format_ratio(100, 100), "x1.00")
        self.assertEqual(bench.format_ratio(22, 7977), "x0.0028")
        self.assertEqual(bench.format_ratio(50000, 100), "x500")
        self.assertEqual(bench.format_ratio(0, 100), "x0")
        self.assertEqual(bench.format_ratio(5, 0), "n/a")
        self.assertEqual(bench.format_ratio(None, 5), "n/a")
        self.assertEqual(bench.format_ratio(5, None), "n/a")

    def test_numbers(self):
        self.assertEqual(bench.format_number(12345.6), "12346")
        self.assertEqual(bench.format_number(0.012345), "0.0123")
        self.assertEqual(bench.format_number(22.34), "22.3")
        self.assertEqual(bench.format_number(7), "7")
        self.assertEqual(bench.format_number(True), "yes")
        self.assertEqual(bench.format_number(None), "n/a")
        self.assertEqual(bench.format_number(0.0), "0")

    def test_markdown_table(self):
        table = bench.markdown_table([{"a": 1, "b": 2.5}, {"a": 3, "b": None}],
                                     [("A", "a"), ("B", "b"), ("sum", lambda r: "s")])
        self.assertEqual(table.splitlines(), ["| A | B | sum |", "|---|---|---|",
                                              "| 1 | 2.5 | s |", "| 3 | n/a | s |"])

    def test_median_round(self):
        rows = [{"rps": 3.0, "round": 1, "p50_us": 30}, {"rps": 1.0, "round": 2, "p50_us": 10},
                {"rps": 2.0, "round": 3, "p50_us": 20}]
        median = bench.median_round(rows)
        self.assertEqual((median["rps"], median["p50_us"]), (2.0, 20))  # one round's numbers, whole
        self.assertEqual((median["rps_min"], median["rps_max"], median["rounds"]), (1.0, 3.0, 3))
        self.assertNotIn("round", median)
        self.assertEqual(bench.median_round(rows[:2])["rps"], 1.0)  # even: the lower middle
        self.assertEqual(bench.median_round(rows[:1])["rounds"], 1)

    def test_cpu_per_10k(self):
        self.assertAlmostEqual(bench.cpu_per_10k(0.5, 20000), 0.25)
        self.assertIsNone(bench.cpu_per_10k(0.5, 0))


def pingpong_row(server, rps, connections=1, nodelay=False, kind="k"):
    return {"server": server, "kind": kind, "protocol": "shift", "connections": connections,
            "nodelay": nodelay, "rps": rps, "p50_us": 20.0, "p99_us": 90.0, "max_us": 300.0,
            "connections_served": connections, "errors": 0, "server_cpu_per_10k_s": 0.1,
            "loadgen_cpu_s": 0.2}


def chat_row(strategy, backlog, clients, rps, in_room=None, lost=0):
    in_room = clients if in_room is None else in_room
    return {"server": "chat-server", "broadcast": strategy, "backlog": backlog, "connections": clients,
            "joined": in_room >= 2, "clients_in_room": in_room, "join_success_rate": in_room / clients,
            "rps": rps, "lost": lost, "p50_us": 500.0, "p99_us": 900.0, "corrupt": 0,
            "clients_dropped": 0, "server_cpu_s": 1.0}


class Goals(unittest.TestCase):
    def verdicts(self, results):
        return {(v["goal"], v["subject"]): v for v in bench.evaluate_goals(results)}

    def test_a_delayed_ack_stall_misses_the_round_trip_goal(self):
        rows = [dict(pingpong_row("threaded-server", 20000.0), size=16, p50_us=45.0, requests=40000),
                dict(pingpong_row("epoll-server", 23.0), size=1024, p50_us=43900.0, requests=46)]
        verdicts = self.verdicts({"goals": rows})
        goal = "p50 < 1000 us, 1 connection, nodelay off"
        self.assertTrue(verdicts[(goal, "threaded-server shift 16 B")]["met"])
        self.assertFalse(verdicts[(goal, "epoll-server shift 1024 B")]["met"])
        self.assertEqual(verdicts[(goal, "epoll-server shift 1024 B")]["measured"], "p50 43900 us")

    def test_shares_are_of_the_fastest_server_at_the_same_connections(self):
        rows = [pingpong_row("epoll-server", 100000.0, 10, kind="event"),
                pingpong_row("asio-server", 89000.0, 10, kind="event"),
                pingpong_row("threaded-server", 71000.0, 10, kind="threads"),
                pingpong_row("threadpool-server", 69000.0, 10, kind="pool"),
                pingpong_row("sequential-server", 10000.0, 10, kind="sequential"),
                pingpong_row("threaded-server", 10.0, 100, kind="threads"),
                pingpong_row("epoll-server", 50000.0, 100, kind="event"),
                pingpong_row("qt-server", 45000.0, 100, kind="event"),
                pingpong_row("qt-server", 1.0, 10, nodelay=True, kind="event")]
        verdicts = self.verdicts({"throughput": rows})
        event10, threads10 = ">= 90% of the fastest at 10 connections", ">= 70% of the fastest at 10 connections"
        self.assertTrue(verdicts[(event10, "epoll-server (event)")]["met"])
        self.assertFalse(verdicts[(event10, "asio-server (event)")]["met"])
        self.assertTrue(verdicts[(threads10, "threaded-server (threads)")]["met"])
        self.assertFalse(verdicts[(threads10, "threadpool-server (pool)")]["met"])
        event100 = ">= 90% of the fastest at 100 connections"
        self.assertTrue(verdicts[(event100, "qt-server (event)")]["met"])
        # No goal for the sequential server, for threads at 100, or with nodelay on.
        subjects = {subject for _, subject in verdicts}
        self.assertNotIn("sequential-server (sequential)", subjects)
        self.assertEqual(sum(1 for goal, _ in verdicts if goal.endswith("100 connections")), 2)

    def test_the_fastest_is_the_fastest_that_served_every_connection(self):
        pool = dict(pingpong_row("threadpool-server", 110000.0, 10, kind="pool"), connections_served=4)
        rows = [pool, pingpong_row("asio-server", 95000.0, 10, kind="event"),
                pingpong_row("epoll-server", 88000.0, 10, kind="event")]
        verdicts = self.verdicts({"throughput": rows})
        event10, threads10 = ">= 90% of the fastest at 10 connections", ">= 70% of the fastest at 10 connections"
        self.assertTrue(verdicts[(event10, "epoll-server (event)")]["met"])  # 88,000 / 95,000
        self.assertIn("of asio-server", verdicts[(event10, "epoll-server (event)")]["measured"])
        self.assertIn("(served 4 of 10)", verdicts[(threads10, "threadpool-server (pool)")]["measured"])
        # Faster than everyone, but it starved 6 of its 10 connections: not met.
        self.assertFalse(verdicts[(threads10, "threadpool-server (pool)")]["met"])

    def test_the_queue_strategy_must_serve_everyone_in_the_room_at_400(self):
        rows = [chat_row("queue", 128, 200, 19000.0), chat_row("queue", 128, 400, 39000.0),
                chat_row("queue", 300, 200, 19000.0), chat_row("queue", 300, 400, 15000.0, lost=3),
                chat_row("queue", 10, 400, 5000.0, in_room=55),
                chat_row("queue", 1024, 200, 19000.0), chat_row("queue", 1024, 400, 20000.0, in_room=390),
                chat_row("global-lock", 128, 400, 1.0, in_room=3)]
        verdicts = self.verdicts({"chat": rows})
        delivery, growth = "queue keeps 100% delivery at 400 clients", \
            "queue throughput does not fall from 200 to 400 clients"
        self.assertTrue(verdicts[(delivery, "backlog 128")]["met"])
        self.assertTrue(verdicts[(growth, "backlog 128")]["met"])
        self.assertFalse(verdicts[(delivery, "backlog 300")]["met"])
        self.assertFalse(verdicts[(growth, "backlog 300")]["met"])
        self.assertNotIn((delivery, "backlog 10"), verdicts)  # below the goal's backlog
        # Those the backlog kept out are not deliveries lost.
        self.assertTrue(verdicts[(delivery, "backlog 1024")]["met"])
        self.assertEqual(verdicts[(delivery, "backlog 1024")]["measured"], "0 lost, 0 dropped (390/400 got in)")


class Report(unittest.TestCase):
    def render(self, results, skipped=(), notes=None):
        return bench.report_text({"CPUs": "2", "net.core.somaxconn": "4096"}, results, notes or {},
                                 list(skipped), {}, "2026-01-01 00:00:00", 12.0, True, "bench.py --quick")

    def test_ratios_are_against_the_baseline_of_the_same_run(self):
        text = self.render({"throughput": [pingpong_row("sequential-server", 1000.0),
                                           pingpong_row("threaded-server", 2500.0)]})
        self.assertIn("ratio against sequential-server, 1 connection, nodelay off (1000 requests/s)", text)
        self.assertIn("| threaded-server | k | 1 | no | 2500 | n/a | x2.50 |", text)
        self.assertIn("| sequential-server | k | 1 | no | 1000 | n/a | x1.00 |", text)

    def test_the_median_round_is_shown_with_its_range(self):
        rounds = [dict(pingpong_row("threaded-server", rps), round=n) for n, rps in
                  enumerate((2600.0, 2400.0, 2500.0), 1)]
        text = self.render({"throughput": [bench.median_round(rounds)]})
        self.assertIn("| threaded-server | k | 1 | no | 2500 | 2400, 2600 | n/a |", text)

    def test_without_its_baseline_a_ratio_says_so(self):
        text = self.render({"throughput": [pingpong_row("threaded-server", 2500.0)]})
        self.assertIn("| 2500 | n/a |", text)

    def test_skipped_servers_and_machine_facts_are_listed(self):
        epoll = next(s for s in bench.REGISTRY if s.name == "epoll-server")
        text = self.render({}, skipped=[(epoll, "not built: no part4_iocp/epoll-server")])
        self.assertIn("## Servers skipped", text)
        self.assertIn("- epoll-server (part 4, event): not built: no part4_iocp/epoll-server", text)
        self.assertIn("| net.core.somaxconn | 4096 |", text)
        self.assertIn("quick run", text)

    def test_chat_ratios_compare_the_same_cell_of_the_grid(self):
        text = self.render({"chat": [chat_row("global-lock", 128, 400, 20000.0),
                                     chat_row("queue", 128, 400, 30000.0),
                                     chat_row("queue", 10, 50, 900.0, in_room=35)]})
        self.assertIn("| 128 | 400 | 100.0 | 30000 | x1.50 |", text)
        self.assertIn("| 10 | 50 | 70.0 | 900 | n/a |", text)

    def test_the_goals_section_counts_the_checks_met(self):
        rows = [dict(pingpong_row("threaded-server", 20000.0), size=16, p50_us=45.0, requests=40000),
                dict(pingpong_row("epoll-server", 23.0), size=16, p50_us=43900.0, requests=46)]
        text = self.render({"goals": rows})
        self.assertIn("1 of 2 checks met.", text)
        self.assertIn("| epoll-server shift 16 B | p50 43900 us | **no** |", text)

    def test_an_experiment_without_results_says_so_and_keeps_its_notes(self):
        text = self.render({}, notes={"nagle": ["the two-host variant was not run"]})
        section = text.split("## 2.")[1].split("## 3a.")[0]
        self.assertIn("- the two-host variant was not run", section)
        self.assertIn("No results.", section)


if __name__ == "__main__":
    unittest.main()
