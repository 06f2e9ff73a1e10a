"""Tests of bench_report: report.md's text from fixed result data (each
ratio against the baseline of the same run, the skipped servers, the
machine's facts, the goals' count, empty experiments, chart links, the
completion-against-readiness table, the saturated chat grid's peaks and
cells, experiment 7's per-core tables and its
comparison with the published benchmark, the CPU-heavy requests' tables and
the one active client beside idle ones) and the CSVs. No server and no loadgen run here.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_report.py
"""

import csv
import os
import tempfile
import types
import unittest

from bench_testing import (chat_row, completion_row, fixed_results, idle_latency_row, idle_row, paired, percore_row,
                           pingpong_row, published_row, work_row)

import bench_report as report  # found through the path bench_testing set
from bench_testing import burst_row
from bench_experiments import median_round, median_round_and_cpu, paired_ratios
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
        self.assertIn("| 128 | 400 | 100.0 | 400 | 30000 | x1.50 |", text)
        self.assertIn("| 10 | 50 | 70.0 | 35 | 900 | n/a |", text)

    def test_chat_peaks_per_strategy_and_backlog(self):
        rows = [chat_row("global-lock", 300, 50, 200000.0), chat_row("global-lock", 300, 325, 360000.0),
                chat_row("global-lock", 300, 500, 150000.0, in_room=410),
                chat_row("snapshot", 300, 50, 160000.0), chat_row("snapshot", 300, 500, 150000.0),
                chat_row("queue", 10, 50, 9000.0, in_room=20), chat_row("queue", 10, 500, 12000.0, in_room=60),
                dict(chat_row("queue", 300, 500, 0.0, in_room=1), joined=False)]
        self.assertEqual([(p["broadcast"], p["backlog"], p["clients"], p["shape"])
                          for p in report.chat_peaks(rows)],
                         [("global-lock", 300, 325, "collapses"), ("snapshot", 300, 50, "holds"),
                          ("queue", 10, 500, "rises")])
        text = "\n".join(report.chat_text(rows))
        self.assertIn("the strategy holds when that stays at or above 80% of the peak, collapses below 50%",
                      text)
        self.assertIn("| global-lock | 300 | 360000 | 325 (325) | 150000 at 500 (410 in) = x0.42 | collapses |",
                      text)
        self.assertIn("| snapshot | 300 | 160000 | 50 (50) | 150000 at 500 (500 in) = x0.94 | holds |", text)
        self.assertIn("| queue | 10 | 12000 | 500 (60) | none measured | rises |", text)
        # The room that never formed is in its strategy's table, not among the peaks.
        self.assertIn("| 300 | 500 | 0.2 | 1 | 0 | x0 |", text)

    def test_chat_cells_show_how_busy_the_generator_was(self):
        text = "\n".join(report.chat_text([chat_row("queue", 128, 50, 9000.0, loadgen_cpu=1.5),
                                            chat_row("queue", 128, 400, 9000.0, loadgen_cpu=2.85),
                                            dict(chat_row("queue", 300, 50, 9000.0),
                                                 loadgen_cpu_window_s=None)]))
        rows = [line for line in text.splitlines() if line.startswith("| 128 |") or line.startswith("| 300 |")]
        self.assertEqual([line.split(" | ")[-2] for line in rows], ["50", "95 (limit?)", "n/a"])

    def test_the_goals_section_counts_the_checks_met(self):
        rows = [dict(pingpong_row("threaded-server", 20000.0), size=16, p50_us=45.0, requests=40000),
                dict(pingpong_row("epoll-server", 23.0), size=16, p50_us=43900.0, requests=46)]
        text = self.render({"goals": rows})
        self.assertIn("1 of 2 checks met.", text)
        self.assertIn("| epoll-server shift 16 B | p50 43900 us | **no** |", text)

    def test_a_run_of_some_experiments_checks_the_goals_of_those_it_ran(self):
        rows = [completion_row("epoll-server", "shift", 10, 40000.0, 0.1),
                completion_row("completion-server", "shift", 10, 30000.0, 0.15)]
        text = self.render({"completion": paired(rows)})
        goals_section = text.split("## Performance goals\n\n")[1].split("## ")[0]
        self.assertIn("0 of 2 checks met.", goals_section)
        self.assertIn("| completion-server shift, 10 conn. | median of the rounds' ratios x0.75", goals_section)
        self.assertIn("The first goal's round trips were not measured in this run (experiment goals).",
                      goals_section)
        self.assertNotIn("No results.", goals_section)

    def test_an_experiment_without_results_says_so_and_keeps_its_notes(self):
        text = self.render({}, notes={"nagle": ["the two-host variant was not run"]})
        section = text.split("## 2.")[1].split("## 3a.")[0]
        self.assertIn("- the two-host variant was not run", section)
        self.assertIn("No results.", section)

    COMPLETION_HEADER = ("| protocol | connections | epoll req/s | completion req/s | "
                         "ratio completion/epoll | rounds' ratios: median (range) | epoll CPU s/10k | "
                         "completion CPU s/10k | CPU ratio | rounds' CPU ratios: median |")

    def completion_section(self, text):
        # Up to the next section's title, or the end of the report.
        return text.split("## 6. Completion against readiness (pinned)\n\n")[1].split(
            "Raw results:")[0].split("## ")[0]

    def test_the_completion_table_puts_both_servers_of_a_point_on_one_row(self):
        rows = [completion_row("epoll-server", "shift", 10, 40000.0, 0.1),
                completion_row("completion-server", "shift", 10, 30000.0, 0.15),
                completion_row("epoll-server", "framed", 100, 38000.0, 0.1)]
        idle = [idle_row("epoll-server", 0.3), idle_row("completion-server", 5.9)]
        notes = {"completion": ["pinned with taskset: the server to CPU 0", "5 round(s)"]}
        section = self.completion_section(self.render({"completion": paired(rows), "completion_idle": idle},
                                                      notes=notes))
        self.assertEqual(section, "\n".join([
            "- pinned with taskset: the server to CPU 0",
            "- 5 round(s)",
            "",
            "requests/s: the round with the median rate; CPU: server CPU seconds (user + sys) per 10,000 "
            "requests, the median over the rounds; each ratio is completion-server over epoll-server at "
            "the same point; rounds' ratios: each round's over the same round's, the median and the range "
            "(the goals are judged on these medians).",
            "",
            self.COMPLETION_HEADER,
            "|---|---|---|---|---|---|---|---|---|---|",
            "| shift | 10 | 40000 | 30000 | x0.75 | x0.75 (x0.75 to x0.75) | 0.1 | 0.15 | x1.50 | x1.50 |",
            # completion-server has no result at this point: the row says so.
            "| framed | 100 | 38000 | n/a | n/a |  | 0.1 | n/a | n/a | n/a |",
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
        # Paired by round, the ratios are 1.5, 0.25 and 0.83 (median 0.83,
        # not the 0.75 of the two medians), the CPU ratios 4.0 and 1.33 (the
        # round without a reading is left out; the lower middle of two).
        completion.update(paired_ratios(rounds("completion-server", [(1500.0, 0.8), (500.0, None), (2500.0, 0.4)]),
                                        rounds("epoll-server", [(1000.0, 0.2), (2000.0, 0.9), (3000.0, 0.3)])))
        section = self.completion_section(self.render({"completion": [epoll, completion]}))
        self.assertIn("| shift | 1 | 2000 | 1500 | x0.75 | x0.83 (x0.25 to x1.50) | 0.3 | 0.4 | x1.33 | x1.33 |",
                      section)
        self.assertIn("Idle memory: no results.", section)

    def test_the_completion_idle_line_with_one_reading_missing(self):
        section = self.completion_section(self.render({
            "completion": [completion_row("epoll-server", "shift", 1, 1000.0, 0.5)],
            "completion_idle": [idle_row("completion-server", 5.9, connections=1000)]}))
        self.assertIn("Idle memory, 1000 idle connections: epoll-server n/a KiB per connection, "
                      "completion-server 5.9 KiB per connection, difference n/a KiB", section)

    def test_every_section_in_order_with_its_chart(self):
        charts = {name: f"{name}.png" for name in
                  ("throughput", "nagle", "backlog", "clients", "chat", "idle", "scaling", "completion",
                   "work")}
        text = self.render(fixed_results(), charts=charts)
        titles = [line for line in text.splitlines() if line.startswith("## ")]
        self.assertEqual(titles, [
            "## Machine", "## Performance goals", "## 1a. Throughput per design",
            "## 1b. Client x server: requests per run", "## 2. Nagle's algorithm and delayed ACKs",
            "## 3a. Listen backlog under bursts",
            "## 3b. Chat: clients x backlog x broadcast strategy, saturated",
            "## 3c. A burst against every server's default settings",
            "## 4. Memory and threads per idle connection", "## 4b. One active client beside idle ones",
            "## 5. Scaling the pool, and CPU per request",
            "## 6. Completion against readiness (pinned)", "## 7a. Per-core efficiency (pinned)",
            "## 7b. Requests in 10 seconds, against the published benchmark",
            "## 8. CPU-heavy requests (--work-us)"])
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
        self.assertIn("| framed | 10 | 30000 | 29000 | x0.97 | x0.97 (x0.97 to x0.97) | 0.1 | 0.1 | x1.00 | x1.00 |",
                      text)
        self.assertIn("difference +5.6 KiB", text)
        self.assertIn("![8. CPU-heavy requests (--work-us)](work.png)", text)
        self.assertIn("| threadpool-server | k | 80000 [4/10] | 8000 [4/10] | 800 [4/10] | 80 [4/10] | "
                      "4% [4/10] |", text)
        self.assertIn("| qt-server | event | 10000 | 10000 / 10000 | 1818 | 440 | 880 | x11.00 | x11.00 "
                      "| 0.5 |", text)
        self.assertTrue(text.endswith("one CSV per experiment.\n"))


class PerCoreReport(unittest.TestCase):
    render = Report.render
    HEADER = ("| server | kind | requests/s | lowest, highest | vs epoll-server | rounds' ratios: median (range) | "
              "server CPU s/10k | CPU vs epoll-server | served conns |\n|---|---|---|---|---|---|---|---|---|")

    def section(self, text, title):
        # Up to the next section's title, or the end of the report.
        return text.split(f"## {title}\n\n")[1].split("## ")[0].split("Raw results:")[0]

    def test_one_table_per_shape_each_server_against_epoll_in_it(self):
        rows = [percore_row("epoll-server", "shift", 10, 10000.0, 0.1),
                percore_row("asio-server", "shift", 10, 9500.0, 0.12),
                percore_row("asio-server", "shift", 10, 9000.0, 0.15, settings="--threads 1"),
                # A pool serves as many as it has threads; an event loop that
                # left some waiting has no such excuse. Neither ratio counts.
                percore_row("threadpool-server", "shift", 10, 8000.0, 0.2, kind="pool", served=4),
                percore_row("qt-server", "shift", 10, 7000.0, None, served=7),
                # A shape without epoll-server has nothing to be a share of.
                percore_row("asio-server", "framed", 100, 5000.0, 0.1)]
        section = self.section(self.render({"percore": paired(rows)}, notes={"percore": ["pinned with taskset"]}),
                               "7a. Per-core efficiency (pinned)")
        self.assertEqual(section, "\n".join([
            "- pinned with taskset",
            "",
            "requests/s: the round with the median rate; vs epoll-server: that rate over epoll-server's "
            "at the same shape; rounds' ratios: each round's rate over epoll-server's in the same round, "
            "the median and the range (the goals are judged on that median); CPU: server CPU seconds (user + sys) per 10,000 "
            "requests, the median over the rounds. A server that did not serve every connection has its "
            "ratio in parentheses: it is not counted as meeting anything (the sequential server serves "
            "one client at a time, a pool as many as it has threads: its design's limit).",
            "",
            "shift, 10 connections: epoll-server 10000 requests/s.",
            "",
            self.HEADER,
            "| epoll-server | event | 10000 | 10000, 10000 | x1.00 |  | 0.1 | x1.00 | 10 |",
            "| asio-server | event | 9500 | 9500, 9500 | x0.95 | x0.95 (x0.95 to x0.95) | 0.12 | x1.20 | 10 |",
            "| asio-server --threads 1 | event | 9000 | 9000, 9000 | x0.90 | x0.90 (x0.90 to x0.90) | 0.15 | x1.50 "
            "| 10 |",
            "| threadpool-server | pool | 8000 | 8000, 8000 | (x0.80) not counted | x0.80 (x0.80 to x0.80) | 0.2 "
            "| x2.00 | 4 of 10: its design's limit |",
            "| qt-server | event | 7000 | 7000, 7000 | (x0.70) not counted | x0.70 (x0.70 to x0.70) | n/a | n/a "
            "| 7 of 10 |",
            "",
            "framed, 100 connections: epoll-server n/a requests/s.",
            "",
            self.HEADER,
            "| asio-server | event | 5000 | 5000, 5000 | n/a |  | 0.1 | n/a | 100 |",
            "", "", ""]))

    def test_the_published_comparison_says_where_each_figure_was_measured(self):
        rows = [published_row("asio-server", "asio-client", 1, 120000),
                published_row("qt-server-threads", "qt-client", 1, 300000, errors=1),
                published_row("asio-server", "asio-client", 10, 700000)]
        section = self.section(self.render({"percore_published": rows}),
                               "7b. Requests in 10 seconds, against the published benchmark")
        self.assertIn("measured on another machine than this run's, so the ratio compares machines as "
                      "much as servers; its goal is 1.2x. It has no one-host figure for 10 connections: "
                      "its 10-client runs went between two machines over a LAN cable.", section)
        self.assertIn("| asio-client | asio-server | 1 | 10 | 120000 | 120000, 120000 | 10 | 0 | 91281.5 | "
                      "one Intel machine running Windows | x1.31 | 4 |", section)
        self.assertIn("| qt-client | qt-server-threads | 1 | 10 | 300000 | 300000, 300000 | 10 | 1 | "
                      "611292.1 | an Apple M4 | x0.49 | 4 |", section)
        self.assertIn("| asio-client | asio-server | 10 | 10 | 700000 | 700000, 700000 | 10 | 0 | "
                      "none from one host | n/a | n/a | 4 |", section)

    def test_without_results_each_part_says_so(self):
        text = self.render({}, notes={"percore": ["skipped: epoll-server (the baseline of every ratio) "
                                                  "not built"]})
        self.assertEqual(self.section(text, "7a. Per-core efficiency (pinned)"),
                         "- skipped: epoll-server (the baseline of every ratio) not built\n\nNo results.\n\n")
        self.assertEqual(self.section(text, "7b. Requests in 10 seconds, against the published benchmark"),
                         "No results.\n\n")


class WorkAndIdleLatencyReport(unittest.TestCase):
    render = Report.render

    def section(self, text, title):
        # Up to the next section's title, or the end of the report.
        return text.split(f"## {title}\n\n")[1].split("## ")[0].split("Raw results:")[0]

    def test_the_work_tables_put_work_us_across_and_mark_servers_that_starved_connections(self):
        rows = [work_row("epoll-server", 10, 0, 50000.0, 100.0, kind="event"),
                work_row("threadpool-server", 10, 0, 60000.0, 80.0, served=4, kind="pool"),
                work_row("threaded-server", 10, 0, 40000.0, 70.0, kind="threads"),
                work_row("epoll-server", 10, 1000, 900.0, 12000.0, kind="event"),
                work_row("threadpool-server", 10, 1000, 1800.0, 3000.0, served=4, kind="pool")]
        text = self.render({"work": rows}, notes={"work": ["1 round(s)"]}, charts={"work": "work.png"})
        self.assertEqual(self.section(text, "8. CPU-heavy requests (--work-us)"), "\n".join([
            "- 1 round(s)",
            "",
            "requests/s: the round with the median rate; p99: the round trip's 99th percentile in "
            "microseconds, the median over the rounds. A column's ceiling is what 2 CPUs can compute at "
            "that --work-us and nothing else (CPUs x 1,000,000 / work-us requests/s); loadgen shares the "
            "same CPUs. [s/c]: the server served only s of its c connections in some round; its figures "
            "describe those s, not comparable with the others.",
            "",
            "10 connections, requests per second:",
            "",
            "| server | kind | 0 us | 1000 us (ceiling 2,000) | share of the ceiling at 1000 us |",
            "|---|---|---|---|---|",
            "| epoll-server | event | 50000 | 900 | 45% |",
            "| threadpool-server | pool | 60000 [4/10] | 1800 [4/10] | 90% [4/10] |",
            # No result at 1000 us (a run that failed): the cells say so.
            "| threaded-server | threads | 40000 | n/a | n/a |",
            "",
            "10 connections, p99 round trip (us):",
            "",
            "| server | kind | 0 us | 1000 us |",
            "|---|---|---|---|",
            "| epoll-server | event | 100 | 12000 |",
            "| threadpool-server | pool | 80 [4/10] | 3000 [4/10] |",
            "| threaded-server | threads | 70 | n/a |",
            "",
            "",
            "![8. CPU-heavy requests (--work-us)](work.png)",
            "", ""]))

    def test_each_connection_count_has_its_own_tables(self):
        rows = [work_row("epoll-server", c, w, 1000.0, 500.0) for c in (100, 10) for w in (0, 10)]
        section = self.section(self.render({"work": rows}), "8. CPU-heavy requests (--work-us)")
        titles = [line for line in section.splitlines() if line.endswith(":")]
        self.assertEqual(titles, ["10 connections, requests per second:", "10 connections, p99 round trip (us):",
                                  "100 connections, requests per second:",
                                  "100 connections, p99 round trip (us):"])
        self.assertIn("| server | kind | 0 us | 10 us (ceiling 200,000) | share of the ceiling at 10 us |",
                      section)
        self.assertIn("| epoll-server | k | 1000 | 1000 | 0.5% |", section)

    def test_the_idle_latency_table_compares_each_server_with_itself_without_idle_connections(self):
        rows = [idle_latency_row("epoll-server", 0, 20000.0, 45.0, 90.0),
                idle_latency_row("qt-server", 0, 15000.0, 60.0, 120.0),
                idle_latency_row("epoll-server", 10000, 19000.0, 47.0, 99.0),
                idle_latency_row("qt-server", 10000, 900.0, 1100.0, 1500.0, held=9984)]
        text = self.render({"idle_latency": rows}, notes={"idle_latency": ["1 round(s)"]})
        self.assertEqual(self.section(text, "4b. One active client beside idle ones"), "\n".join([
            "- 1 round(s)",
            "",
            "requests/s: the round with the median rate of the one active connection; p50, p99: its "
            "round trip, the median over the rounds; vs 0 idle: against the same server with no idle "
            "connection, in this run; server CPU: seconds per 10,000 requests, the median over the "
            "rounds; held / greeted: the fewest idle connections held and greeted in any round.",
            "",
            "| server | kind | idle conns | held / greeted | requests/s | p50 us | p99 us | p50 vs 0 idle | "
            "p99 vs 0 idle | server CPU s /10k req |",
            "|---|---|---|---|---|---|---|---|---|---|",
            "| epoll-server | event | 0 | 0 / 0 | 20000 | 45 | 90 | x1.00 | x1.00 | 0.5 |",
            "| epoll-server | event | 10000 | 10000 / 10000 | 19000 | 47 | 99 | x1.04 | x1.10 | 0.5 |",
            "| qt-server | event | 0 | 0 / 0 | 15000 | 60 | 120 | x1.00 | x1.00 | 0.5 |",
            "| qt-server | event | 10000 | 9984 / 9984 (of 10000) | 900 | 1100 | 1500 | x18.33 | x12.50 | 0.5 |",
            "", ""]))

    def test_without_its_no_idle_point_a_ratio_says_so(self):
        rows = [idle_latency_row("qt-server", 1000, 5000.0, 200.0, 400.0)]
        section = self.section(self.render({"idle_latency": rows}), "4b. One active client beside idle ones")
        self.assertIn("| qt-server | event | 1000 | 1000 / 1000 | 5000 | 200 | 400 | n/a | n/a | 0.5 |", section)


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



class BurstSection(unittest.TestCase):
    def test_each_server_with_its_rounds_and_its_designs_limit(self):
        text = report.report_text({}, {"burst": [
            burst_row("epoll-server", "event", [1.0, 1.0, 1.0]),
            burst_row("qt-server", "event", [0.84, 1.0, 0.9]),
            burst_row("sequential-server", "sequential", [0.4, 0.5, 0.45], limit=1),
            burst_row("qt-server-pool", "pool", [0.95], limit=16),
            burst_row("threadpool-server", "pool", [0.95], limit=None)]},
            {"burst": ["400 connects at once"]}, [], {}, "2026-01-01 00:00:00", 1.0, True, "bench.py")
        title = "## 3c. A burst against every server's default settings\n"
        section = text.split(title, 1)[1].split("\n## ")[0]
        self.assertIn("- 400 connects at once", section)
        self.assertIn("| epoll-server | event | 400 | all | 3 | 100.0 | 100.0 | 100.0 | 0 | 0 | 0 | 1.05 "
                      "| yes |", section)
        self.assertIn("| qt-server | event | 400 | all | 3 | 84.0 | 90.0 | 100.0 | 0 | 64 | 0 | 1.05 | yes |",
                      section)
        self.assertIn("| sequential-server | sequential | 400 | 1 | 3 | 40.0 | 45.0 | 50.0 | 0 | 240 | 0 "
                      "| 1.05 | no: its design serves one client at a time |", section)
        self.assertIn("| 16 | 1 | 95.0 | 95.0 | 95.0 | 0 | 20 | 0 | 1.05 | no: its design serves 16 clients "
                      "at a time |", section)
        self.assertIn("| its threads | 1 | 95.0 | 95.0 | 95.0 | 0 | 20 | 0 | 1.05 | no: its design serves as "
                      "many clients at a time as its pool has threads |", section)

    def test_a_server_that_served_no_one_has_no_time_to_serve(self):
        text = report.report_text({}, {"burst": [burst_row("qt-server", "event", [0.0])]}, {}, [], {},
                                  "2026-01-01 00:00:00", 1.0, True, "bench.py")
        self.assertIn("| qt-server | event | 400 | all | 1 | 0.0 | 0.0 | 0.0 | 0 | 400 | 0 | n/a | yes |",
                      text)


if __name__ == "__main__":
    unittest.main()
