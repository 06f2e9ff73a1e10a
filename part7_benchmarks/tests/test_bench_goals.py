"""Tests of bench_goals: the performance goals' verdicts from fixed result
rows (the round trip, the share of the fastest design, the chat queue).
Pure; nothing runs.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_goals.py
"""

import unittest

from bench_testing import chat_row, fixed_results, pingpong_row

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

    def test_every_verdict_has_the_four_fields(self):
        for verdict in goals.evaluate_goals(fixed_results()):
            self.assertEqual(set(verdict), {"goal", "subject", "measured", "met"})
            self.assertIn(verdict["met"], (True, False, None))


if __name__ == "__main__":
    unittest.main()
