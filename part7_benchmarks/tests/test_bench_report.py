"""Tests of bench_report: report.md's text from fixed result data (each
ratio against the baseline of the same run, the skipped servers, the
machine's facts, the goals' count, empty experiments, chart links, the
completion-against-readiness table) and the CSVs. No server and no loadgen run here.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_report.py
"""

import csv
import os
import tempfile
import types
import unittest

from bench_testing import chat_row, completion_row, fixed_results, idle_row, pingpong_row

import bench_report as report  # found through the path bench_testing set
from bench_experiments import median_round, median_round_and_cpu
from bench_registry import REGISTRY


class Report(unittest.TestCase):
    def render(self, results, skipped=(), notes=None, charts=None):
        return report.report_text({"CPUs": "2", "net.core.somaxconn": "4096"}, results, notes or {},
                                  list(skipped), charts or {}, "2026-01-01 00:00:00", 12.0, True,
                                  "bench.py --quick")

    def test_ratios_are_against_the_baseline_of_the_same_run(self):
        text = self.render({"throughput": [pingpong_row("sequential-server", 1000.0),
                                           pingpong_row("threaded-server", 2500.0)]})
        self.assertIn("ratio against sequential-server, 1 connection, nodelay off (1000 requests/s)", text)
        self.assertIn("| threaded-server | k | 1 | no | 2500 | n/a | x2.50 |", text)
        self.assertIn("| sequential-server | k | 1 | no | 1000 | n/a | x1.00 |", text)

    def test_the_median_round_is_shown_with_its_range(self):
        rounds = [dict(pingpong_row("threaded-server", rps), round=n) for n, rps in
                  enumerate((2600.0, 2400.0, 2500.0), 1)]
        text = self.render({"throughput": [median_round(rounds)]})
        self.assertIn("| threaded-server | k | 1 | no | 2500 | 2400, 2600 | n/a |", text)

    def test_without_its_baseline_a_ratio_says_so(self):
        text = self.render({"throughput": [pingpong_row("threaded-server", 2500.0)]})
        self.assertIn("| 2500 | n/a |", text)

    def test_skipped_servers_and_machine_facts_are_listed(self):
        epoll = next(s for s in REGISTRY if s.name == "epoll-server")
        text = self.render({}, skipped=[(epoll, "not built: no part4_iocp/epoll-server")])
        self.assertIn("## Servers skipped", text)
        self.assertIn("- epoll-server (part 4, event): not built: no part4_iocp/epoll-server", text)
        self.assertIn("| net.core.somaxconn | 4096 |", text)
        self.assertIn("quick run", text)
        self.assertIn("Started 2026-01-01 00:00:00 UTC, took 12 s. Command: `bench.py --quick`.", text)

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

    COMPLETION_HEADER = ("| protocol | connections | epoll req/s | completion req/s | "
                         "ratio completion/epoll | epoll CPU s/10k | completion CPU s/10k | CPU ratio |")

    def completion_section(self, text):
        return text.split("## 6. Completion against readiness (pinned)\n\n")[1].split("Raw results:")[0]

    def test_the_completion_table_puts_both_servers_of_a_point_on_one_row(self):
        rows = [completion_row("epoll-server", "shift", 10, 40000.0, 0.1),
                completion_row("completion-server", "shift", 10, 30000.0, 0.15),
                completion_row("epoll-server", "framed", 100, 38000.0, 0.1)]
        idle = [idle_row("epoll-server", 0.3), idle_row("completion-server", 5.9)]
        notes = {"completion": ["pinned with taskset: the server to CPU 0", "5 round(s)"]}
        section = self.completion_section(self.render({"completion": rows, "completion_idle": idle},
                                                      notes=notes))
        self.assertEqual(section, "\n".join([
            "- pinned with taskset: the server to CPU 0",
            "- 5 round(s)",
            "",
            "requests/s: the round with the median rate; CPU: server CPU seconds (user + sys) per 10,000 "
            "requests, the median over the rounds; each ratio is completion-server over epoll-server at "
            "the same point, from the same rounds.",
            "",
            self.COMPLETION_HEADER,
            "|---|---|---|---|---|---|---|---|",
            "| shift | 10 | 40000 | 30000 | x0.75 | 0.1 | 0.15 | x1.50 |",
            # completion-server has no result at this point: the row says so.
            "| framed | 100 | 38000 | n/a | n/a | 0.1 | n/a | n/a |",
            "",
            "Idle memory, 10000 idle connections: epoll-server 0.3 KiB per connection, completion-server "
            "5.9 KiB per connection, difference +5.6 KiB (completion-server minus epoll-server).",
            "", ""]))

    def test_the_completion_table_shows_the_median_round_and_the_median_cpu(self):
        # Three rounds each; the round with the median rate is not the one
        # with the median CPU, and a round without a CPU reading is left out.
        def rounds(server, readings):
            return [dict(pingpong_row(server, rps), protocol="shift", connections=1, round=n,
                         server_cpu_per_10k_s=cpu) for n, (rps, cpu) in enumerate(readings, 1)]
        epoll = median_round_and_cpu(rounds("epoll-server", [(1000.0, 0.2), (2000.0, 0.9), (3000.0, 0.3)]))
        completion = median_round_and_cpu(rounds("completion-server",
                                                 [(1500.0, 0.8), (500.0, None), (2500.0, 0.4)]))
        self.assertEqual((epoll["rps"], epoll["server_cpu_per_10k_s"], epoll["server_cpu_per_10k_median_s"]),
                         (2000.0, 0.9, 0.3))
        self.assertEqual((completion["rps"], completion["server_cpu_per_10k_s"],
                          completion["server_cpu_per_10k_median_s"]), (1500.0, 0.8, 0.4))
        section = self.completion_section(self.render({"completion": [epoll, completion]}))
        self.assertIn("| shift | 1 | 2000 | 1500 | x0.75 | 0.3 | 0.4 | x1.33 |", section)
        self.assertIn("Idle memory: no results.", section)

    def test_the_completion_idle_line_with_one_reading_missing(self):
        section = self.completion_section(self.render({
            "completion": [completion_row("epoll-server", "shift", 1, 1000.0, 0.5)],
            "completion_idle": [idle_row("completion-server", 5.9, connections=1000)]}))
        self.assertIn("Idle memory, 1000 idle connections: epoll-server n/a KiB per connection, "
                      "completion-server 5.9 KiB per connection, difference n/a KiB", section)

    def test_every_section_in_order_with_its_chart(self):
        charts = {name: f"{name}.png" for name in
                  ("throughput", "nagle", "backlog", "clients", "chat", "idle", "scaling", "completion")}
        text = self.render(fixed_results(), charts=charts)
        titles = [line for line in text.splitlines() if line.startswith("## ")]
        self.assertEqual(titles, [
            "## Machine", "## Performance goals", "## 1a. Throughput per design",
            "## 1b. Client x server: requests per run", "## 2. Nagle's algorithm and delayed ACKs",
            "## 3a. Listen backlog under bursts", "## 3b. Chat: clients x backlog x broadcast strategy",
            "## 4. Memory and threads per idle connection", "## 5. Scaling the pool, and CPU per request",
            "## 6. Completion against readiness (pinned)"])
        self.assertNotIn("No results.", text)
        self.assertIn("![1a. Throughput per design](throughput.png)", text)
        self.assertIn("![5. Scaling the pool, and CPU per request](scaling.png)", text)
        self.assertNotIn("](goals.png)", text)  # the goals have a table, no chart
        # Nagle: against one write, nodelay off, on the same link.
        self.assertIn("loopback: ratio against one write, nodelay off, shift, on the same link "
                      "(9000 requests/s).", text)
        self.assertIn("| loopback | shift | split | no | 20 | x0.0022 |", text)
        # Scaling: against --threads 1 of the same server; CPU from experiment 1 at 10 connections.
        self.assertIn("threadpool-server; ratio against --threads 1 (1000 requests/s).", text)
        self.assertIn("| 4 | 4000 | x4.00 |", text)
        self.assertIn("| epoll-server | event | 3000 | 0.1 | 0.2 |", text)
        self.assertIn("| threaded-server | threads | 1000 | 1000 | 1000 | 4000 | 14000 | 10 | 1 | 1001 | 1 |", text)
        self.assertIn("![6. Completion against readiness (pinned)](completion.png)", text)
        self.assertIn("| framed | 10 | 30000 | 29000 | x0.97 | 0.1 | 0.1 | x1.00 |", text)
        self.assertIn("difference +5.6 KiB", text)
        self.assertTrue(text.endswith("one CSV per experiment.\n"))


class Csvs(unittest.TestCase):
    def test_one_csv_per_experiment_with_every_column_seen(self):
        with tempfile.TemporaryDirectory() as out:
            run = types.SimpleNamespace(out_dir=out, results={
                "idle": [{"server": "a", "rss_kib": 1}, {"server": "b", "threads": 2}],
                "nagle": [{"link": "loopback"}]})
            report.write_csvs(run)
            self.assertEqual(sorted(os.listdir(out)), ["idle.csv", "nagle.csv"])
            with open(os.path.join(out, "idle.csv"), newline="") as f:
                rows = list(csv.reader(f))
        self.assertEqual(rows, [["server", "rss_kib", "threads"], ["a", "1", ""], ["b", "", "2"]])


if __name__ == "__main__":
    unittest.main()
