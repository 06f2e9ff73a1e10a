"""Tests of bench_goals: the performance goals' verdicts from fixed result
rows (the round trip, the share of the fastest design, the chat queue, and
completion-server against epoll-server: rate, CPU per request, idle memory).
Pure; nothing runs.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_goals.py
"""

import unittest

from bench_testing import chat_row, completion_row, fixed_results, idle_row, pingpong_row

import bench_goals as goals  # found through the path bench_testing set


class Goals(unittest.TestCase):
    def verdicts(self, results):
        return {(v["goal"], v["subject"]): v for v in goals.evaluate_goals(results)}

    def test_no_results_no_verdicts(self):
        self.assertEqual(goals.evaluate_goals({}), [])

    def test_a_delayed_ack_stall_misses_the_round_trip_goal(self):
        rows = [dict(pingpong_row("threaded-server", 20000.0), size=16, p50_us=45.0, requests=40000),
                dict(pingpong_row("epoll-server", 23.0), size=1024, p50_us=43900.0, requests=46)]
        verdicts = self.verdicts({"goals": rows})
        goal = "p50 < 1000 us, 1 connection, nodelay off"
        self.assertTrue(verdicts[(goal, "threaded-server shift 16 B")]["met"])
        self.assertFalse(verdicts[(goal, "epoll-server shift 1024 B")]["met"])
        self.assertEqual(verdicts[(goal, "epoll-server shift 1024 B")]["measured"], "p50 43900 us")

    def test_a_run_without_requests_does_not_meet_the_round_trip_goal(self):
        rows = [dict(pingpong_row("threaded-server", 0.0), size=16, p50_us=0.0, requests=0)]
        verdicts = self.verdicts({"goals": rows})
        self.assertFalse(verdicts[("p50 < 1000 us, 1 connection, nodelay off",
                                   "threaded-server shift 16 B")]["met"])

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

    RATE = ">= 90% of epoll-server's requests/s, pinned"
    CPU = "CPU per request <= 1.2x epoll-server's, pinned"
    IDLE = "memory per idle connection <= epoll-server's + 1 KiB"

    def test_the_completion_goals_thresholds(self):
        self.assertEqual((goals.GOAL_COMPLETION_SHARE, goals.GOAL_COMPLETION_CPU,
                          goals.GOAL_COMPLETION_IDLE_KIB), (0.90, 1.2, 1.0))

    def test_completion_rate_is_a_share_of_epoll_at_the_same_point(self):
        rows = [completion_row("epoll-server", "shift", 1, 10000.0, 0.5),
                completion_row("completion-server", "shift", 1, 9000.0, 0.5),   # exactly 90%
                completion_row("epoll-server", "shift", 10, 10000.0, 0.5),
                completion_row("completion-server", "shift", 10, 8999.0, 0.5),  # just under
                completion_row("epoll-server", "framed", 100, 10000.0, 0.5),
                dict(completion_row("completion-server", "framed", 100, 20000.0, 0.5),
                     connections_served=50),
                # Faster than epoll-server at another point must not count here.
                completion_row("epoll-server", "framed", 10, 1.0, 0.5),
                completion_row("completion-server", "framed", 10, 1.0, 0.5)]
        verdicts = self.verdicts({"completion": rows})
        shift1 = verdicts[(self.RATE, "completion-server shift, 1 conn.")]
        self.assertTrue(shift1["met"])
        self.assertEqual(shift1["measured"], "9000/s = x0.90 of 10000/s")
        self.assertFalse(verdicts[(self.RATE, "completion-server shift, 10 conn.")]["met"])
        # Twice as fast, but it starved half its connections: not met.
        framed100 = verdicts[(self.RATE, "completion-server framed, 100 conn.")]
        self.assertFalse(framed100["met"])
        self.assertEqual(framed100["measured"], "20000/s = x2.00 of 10000/s (served 50 of 100)")
        self.assertTrue(verdicts[(self.RATE, "completion-server framed, 10 conn.")]["met"])
        # One rate and one CPU verdict per point, none for epoll-server itself.
        self.assertEqual(sum(1 for goal, _ in verdicts if goal == self.RATE), 4)
        self.assertEqual(sum(1 for goal, _ in verdicts if goal == self.CPU), 4)
        self.assertFalse(any(subject.startswith("epoll-server") for _, subject in verdicts))

    def test_completion_cpu_per_request_is_the_median_over_rounds_against_epoll(self):
        rows = [completion_row("epoll-server", "shift", 1, 10000.0, 0.5, cpu_own=9.0),
                # 0.6 = 1.2 x 0.5 exactly; its median round's own reading, 0.1, is not the one judged.
                completion_row("completion-server", "shift", 1, 10000.0, 0.6, cpu_own=0.1),
                completion_row("epoll-server", "shift", 10, 10000.0, 0.5),
                completion_row("completion-server", "shift", 10, 10000.0, 0.61)]
        verdicts = self.verdicts({"completion": rows})
        shift1 = verdicts[(self.CPU, "completion-server shift, 1 conn.")]
        self.assertTrue(shift1["met"])
        self.assertEqual(shift1["measured"], "0.6 s against 0.5 s per 10k requests = x1.20")
        self.assertFalse(verdicts[(self.CPU, "completion-server shift, 10 conn.")]["met"])

    def test_completion_without_both_sides_of_a_point_has_no_verdict_to_give(self):
        rows = [completion_row("epoll-server", "shift", 10, 10000.0, 0.5),
                completion_row("completion-server", "framed", 1, 10000.0, 0.5),
                completion_row("epoll-server", "shift", 100, 10000.0, None),
                completion_row("completion-server", "shift", 100, 9500.0, 0.5),
                completion_row("epoll-server", "framed", 100, 0.0, 0.5),
                completion_row("completion-server", "framed", 100, 10.0, 0.5)]
        verdicts = self.verdicts({"completion": rows})
        for goal in (self.RATE, self.CPU):
            missing = verdicts[(goal, "completion-server shift, 10 conn.")]
            self.assertEqual((missing["measured"], missing["met"]), ("no completion-server result", None))
            missing = verdicts[(goal, "completion-server framed, 1 conn.")]
            self.assertEqual((missing["measured"], missing["met"]), ("no epoll-server result", None))
        # Without epoll-server's CPU reading only the CPU goal is left open.
        self.assertTrue(verdicts[(self.RATE, "completion-server shift, 100 conn.")]["met"])
        self.assertIsNone(verdicts[(self.CPU, "completion-server shift, 100 conn.")]["met"])
        # An epoll-server that served nothing is no baseline for a share.
        self.assertIsNone(verdicts[(self.RATE, "completion-server framed, 100 conn.")]["met"])
        self.assertNotIn(self.IDLE, {goal for goal, _ in verdicts})  # no idle rows, no idle verdict

    def test_completion_idle_memory_is_epoll_plus_one_kib_at_most(self):
        subject = "completion-server at 10000 idle connections"
        met = self.verdicts({"completion_idle": [idle_row("epoll-server", 0.25),
                                                 idle_row("completion-server", 1.25)]})
        self.assertTrue(met[(self.IDLE, subject)]["met"])  # exactly 1 KiB more
        self.assertEqual(met[(self.IDLE, subject)]["measured"], "1.25 KiB against 0.25 KiB (+1 KiB)")
        missed = self.verdicts({"completion_idle": [idle_row("epoll-server", 0.3),
                                                    idle_row("completion-server", 5.9)]})
        self.assertFalse(missed[(self.IDLE, subject)]["met"])
        self.assertEqual(missed[(self.IDLE, subject)]["measured"], "5.9 KiB against 0.3 KiB (+5.6 KiB)")
        smaller = self.verdicts({"completion_idle": [idle_row("epoll-server", 2.0),
                                                     idle_row("completion-server", 0.5)]})
        self.assertEqual(smaller[(self.IDLE, subject)]["measured"], "0.5 KiB against 2 KiB (-1.5 KiB)")
        self.assertTrue(smaller[(self.IDLE, subject)]["met"])

    def test_completion_idle_without_a_reading_is_not_judged(self):
        subject = "completion-server at 10000 idle connections"
        alone = self.verdicts({"completion_idle": [idle_row("completion-server", 5.9)]})
        self.assertEqual((alone[(self.IDLE, subject)]["measured"], alone[(self.IDLE, subject)]["met"]),
                         ("no reading for epoll-server", None))
        # A server that held no connection has no memory per connection.
        nothing_held = self.verdicts({"completion_idle": [idle_row("epoll-server", 0.3),
                                                          idle_row("completion-server", None, held=0)]})
        self.assertEqual(nothing_held[(self.IDLE, subject)]["measured"], "no reading for completion-server")
        self.assertIsNone(nothing_held[(self.IDLE, subject)]["met"])

    def test_every_verdict_has_the_four_fields(self):
        for verdict in goals.evaluate_goals(fixed_results()):
            self.assertEqual(set(verdict), {"goal", "subject", "measured", "met"})
            self.assertIn(verdict["met"], (True, False, None))


if __name__ == "__main__":
    unittest.main()
