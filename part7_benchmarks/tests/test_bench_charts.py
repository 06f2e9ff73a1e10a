"""Tests of bench_charts: draw_charts writes one PNG per experiment from
fixed result data and names them for the report; without matplotlib it
draws nothing and says so; chat_figure (the chat grid's chart) and
work_figure (the work experiment's chart) have the axes, lines and markers
they promise, and a legend clear of the data.
Needs matplotlib for all but the test without it (Debian's
python3-matplotlib, in /usr/bin/python3); an interpreter without it skips
them and says why.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_charts.py
"""

import contextlib
import io
import os
import sys
import tempfile
import types
import unittest
from unittest import mock

from bench_testing import fixed_results

import bench_charts as charts  # found through the path bench_testing set

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHARTED = ("throughput", "nagle", "backlog", "clients", "chat", "idle", "scaling", "completion", "work")

try:
    import matplotlib  # noqa: F401
    HAVE_MATPLOTLIB = True
except ImportError:
    HAVE_MATPLOTLIB = False


class DrawCharts(unittest.TestCase):
    @unittest.skipUnless(HAVE_MATPLOTLIB, f"no matplotlib in {sys.executable} "
                         "(apt-get install python3-matplotlib, or run with /usr/bin/python3)")
    def test_one_png_per_experiment_from_fixed_results(self):
        with tempfile.TemporaryDirectory() as out:
            drawn = charts.draw_charts(types.SimpleNamespace(out_dir=out, results=fixed_results()))
            self.assertEqual(drawn, {name: f"{name}.png" for name in CHARTED})
            self.assertEqual(sorted(os.listdir(out)), sorted(drawn.values()))
            for name in drawn.values():
                with open(os.path.join(out, name), "rb") as f:
                    self.assertEqual(f.read(8), PNG_SIGNATURE, name)
                self.assertGreater(os.path.getsize(os.path.join(out, name)), 5000, name)

    @unittest.skipUnless(HAVE_MATPLOTLIB, f"no matplotlib in {sys.executable}")
    def test_only_experiments_with_results_are_drawn(self):
        results = {"nagle": fixed_results()["nagle"], "throughput": [], "goals": fixed_results()["goals"]}
        with tempfile.TemporaryDirectory() as out:
            drawn = charts.draw_charts(types.SimpleNamespace(out_dir=out, results=results))
            self.assertEqual(drawn, {"nagle": "nagle.png"})
            self.assertEqual(os.listdir(out), ["nagle.png"])

    def test_without_matplotlib_no_charts_and_a_log_line(self):
        stderr = io.StringIO()
        # A None entry in sys.modules makes `import matplotlib` raise ImportError.
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stderr(stderr), \
                mock.patch.dict(sys.modules, {"matplotlib": None, "matplotlib.pyplot": None}):
            drawn = charts.draw_charts(types.SimpleNamespace(out_dir=out, results=fixed_results()))
            self.assertEqual(os.listdir(out), [])
        self.assertEqual(drawn, {})
        self.assertIn("bench: matplotlib is missing: no charts", stderr.getvalue())


def drawn(figure_function, rows):
    """The figure laid out as draw_charts lays it out before saving."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = figure_function(plt, rows)
    fig.tight_layout()
    fig.canvas.draw()
    return plt, fig


@unittest.skipUnless(HAVE_MATPLOTLIB, f"no matplotlib in {sys.executable}")
class ThroughputFigure(unittest.TestCase):
    """throughput_figure: the bars of a server that served only some of its
    connections are hatched, and no legend covers a bar."""

    def setUp(self):
        rows = [r for r in fixed_results()["throughput"]]
        # A pool that served 4 of its 10 connections, as threadpool-server does.
        rows += [dict(r, server="threadpool-server", connections_served=min(r["connections"], 4))
                 for r in rows if r["server"] == "epoll-server"]
        plt, self.fig = drawn(charts.throughput_figure, rows)
        self.addCleanup(plt.close, self.fig)
        self.ax = self.fig.axes[0]

    def test_only_the_partly_served_bars_are_hatched(self):
        hatched = [(bar.get_x(), bar.get_height()) for bar in self.ax.patches if bar.get_hatch()]
        # threadpool-server (third group) at 10 connections, nodelay off and on.
        self.assertEqual(len(hatched), 2, hatched)
        self.assertTrue(all(2 <= x < 3 for x, _ in hatched), hatched)
        texts = [t.get_text() for t in self.ax.get_legend().get_texts()]
        self.assertIn("hatched: served only some of\nits connections (not comparable)", texts)

    def test_the_legend_stands_beside_the_bars(self):
        renderer = self.fig.canvas.get_renderer()
        legend = self.ax.get_legend().get_window_extent(renderer)
        self.assertGreaterEqual(legend.x0, self.ax.get_window_extent(renderer).x1)


@unittest.skipUnless(HAVE_MATPLOTLIB, f"no matplotlib in {sys.executable}")
class NagleFigure(unittest.TestCase):
    """nagle_figure: one group per link and protocol, one colour per way of
    writing, on a log axis with labelled ticks."""

    def test_groups_colours_and_log_axis(self):
        rows = fixed_results()["nagle"]
        rows += [dict(r, link="veth") for r in rows]
        plt, fig = drawn(charts.nagle_figure, rows)
        self.addCleanup(plt.close, fig)
        ax = fig.axes[0]
        self.assertEqual([t.get_text() for t in ax.get_xticklabels()],
                         ["loopback, shift", "veth, shift"])
        self.assertEqual([t.get_text() for t in ax.get_legend().get_texts()],
                         ["one write, nodelay off", "one write, nodelay on",
                          "two writes, nodelay off", "two writes, nodelay on"])
        self.assertEqual(len({bar.get_facecolor() for bar in ax.patches}), 4)
        stalled = sorted(bar.get_height() for bar in ax.patches)[-2:]
        self.assertEqual(stalled, [40000.0, 40000.0])
        self.assertEqual(ax.get_yscale(), "log")
        low, high = ax.get_ylim()
        labelled = [t for t, label in zip(ax.get_yticks(), ax.get_yticklabels())
                    if low <= t <= high and label.get_text()]
        self.assertGreaterEqual(len(labelled), 3)


@unittest.skipUnless(HAVE_MATPLOTLIB, f"no matplotlib in {sys.executable}")
class ClientsFigure(unittest.TestCase):
    """clients_figure: one panel per connection count on one shared linear
    axis, every pair labelled on one line, every bar carrying its value,
    the legend beside the panels."""

    def setUp(self):
        pairs = [("asio-client", "asio-server"), ("asio-client", "qt-server"),
                 ("qt-client", "asio-server-coro")]
        rows = [{"client": c, "server": s, "connections": n, "nodelay": nd,
                 "rps": 1000.0 * (k + 1) * n + (500.0 if nd else 0.0)}
                for k, (c, s) in enumerate(pairs) for n in (1, 10) for nd in (False, True)]
        plt, self.fig = drawn(charts.clients_figure, rows)
        self.addCleanup(plt.close, self.fig)
        self.axes = self.fig.axes

    def test_one_panel_per_connection_count_on_one_linear_axis(self):
        self.assertEqual([ax.get_title() for ax in self.axes], ["1 connection", "10 connections"])
        self.assertTrue(all(ax.get_xscale() == "linear" for ax in self.axes))
        self.assertEqual(self.axes[0].get_xlim(), self.axes[1].get_xlim())
        self.assertEqual(self.axes[0].get_xlim()[0], 0)

    def test_every_pair_on_one_line_first_on_top(self):
        labels = [t.get_text() for t in self.axes[0].get_yticklabels()]
        self.assertEqual(labels, ["qt-client -> asio-server-coro", "asio-client -> qt-server",
                                  "asio-client -> asio-server"])
        self.assertTrue(all("\n" not in label for label in labels))

    def test_every_bar_carries_its_value(self):
        for ax in self.axes:
            widths = sorted(bar.get_width() for bar in ax.patches)
            texts = sorted(float(t.get_text().replace(",", "")) for t in ax.texts)
            self.assertEqual(len(widths), 6)
            self.assertEqual(texts, widths)
        self.assertIn("30,500", [t.get_text() for t in self.axes[1].texts])

    def test_the_legend_stands_beside_the_panels(self):
        renderer = self.fig.canvas.get_renderer()
        legend = self.axes[1].get_legend().get_window_extent(renderer)
        self.assertGreaterEqual(legend.x0, self.axes[1].get_window_extent(renderer).x1)
        self.assertEqual([t.get_text() for t in self.axes[1].get_legend().get_texts()],
                         ["nodelay off", "nodelay on"])


@unittest.skipUnless(HAVE_MATPLOTLIB, f"no matplotlib in {sys.executable}")
class ChatFigure(unittest.TestCase):
    """chat_figure from the fixed results: global-lock peaks at 200 clients
    and collapses at 400, queue peaks at 200 and holds; with backlog 10 a
    fifth of each burst got in; loadgen was busy for the whole window at
    queue, backlog 128, 50 clients."""

    @classmethod
    def setUpClass(cls):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        cls.fig = charts.chat_figure(plt, fixed_results()["chat"])
        cls.addClassCleanup(plt.close, cls.fig)
        cls.fig.tight_layout()  # as draw_charts lays it out before saving
        cls.fig.canvas.draw()
        cls.panels = [ax for ax in cls.fig.axes if ax.axison]
        cls.legend = next(ax for ax in cls.fig.axes if not ax.axison).get_legend()

    def test_one_column_per_strategy_each_row_sharing_its_y_axis(self):
        self.assertEqual([ax.get_title() for ax in self.panels],
                         ["global-lock", "queue", "", "", "", ""])
        rows = [self.panels[i:i + 2] for i in (0, 2, 4)]
        for left, right in rows:
            self.assertEqual(left.get_ylim(), right.get_ylim())
        self.assertEqual(rows[0][0].get_ylim(), (0, 105))
        self.assertEqual([row[0].get_ylabel() for row in rows],
                         ["% of the burst in the room", "deliveries per second (log scale)",
                          "p99 delivery latency, ms (log scale)"])
        self.assertEqual([ax.get_xlabel() for ax in self.panels[4:]], ["clients in the burst"] * 2)

    def test_throughput_and_latency_on_log_axes_with_labelled_ticks(self):
        for ax in self.panels:
            self.assertEqual([t.get_text() for t in ax.get_xticklabels()], ["50", "200", "400"])
        for ax in self.panels[2:]:
            self.assertEqual(ax.get_yscale(), "log")
            low, high = ax.get_ylim()
            labelled = [t for t, label in zip(ax.get_yticks(), ax.get_yticklabels())
                        if low <= t <= high and label.get_text()]
            self.assertGreaterEqual(len(labelled), 3, ax.get_ylim())
        self.assertEqual(self.panels[0].get_yscale(), "linear")

    def test_one_line_per_backlog_a_star_at_each_peak_and_hollow_where_loadgen_was_busy(self):
        self.assertEqual([t.get_text() for t in self.legend.get_texts()],
                         ["backlog 10", "backlog 128", "peak of the line",
                          "hollow: loadgen busy >= 90% of the window"])
        global_lock, queue = self.panels[2], self.panels[3]
        lines = [line for line in global_lock.get_lines() if line.get_linestyle() != "None"]
        self.assertEqual([list(line.get_ydata()) for line in lines],
                         [[20000.0, 60000.0, 24000.0], [100000.0, 300000.0, 120000.0]])
        stars = [(list(line.get_xdata()), list(line.get_ydata()))
                 for line in global_lock.get_lines() if line.get_marker() == "*"]
        self.assertEqual(stars, [([200], [60000.0]), ([200], [300000.0])])
        hollow = [(list(line.get_xdata()), list(line.get_ydata()))
                  for line in queue.get_lines() if line.get_markerfacecolor() == "white"]
        self.assertEqual(hollow, [([50], [200000.0])])
        self.assertEqual([line for line in global_lock.get_lines() if line.get_markerfacecolor() == "white"],
                         [])
        # Latency in milliseconds: the fixture's p99 is 1,000 us per client.
        latency = [line for line in self.panels[4].get_lines() if line.get_linestyle() != "None"]
        self.assertEqual(list(latency[0].get_ydata()), [50.0, 200.0, 400.0])

    def test_the_legend_covers_no_panel(self):
        renderer = self.fig.canvas.get_renderer()
        legend = self.legend.get_window_extent(renderer)
        for ax in self.panels:
            self.assertFalse(legend.overlaps(ax.get_tightbbox(renderer)), ax.get_title())


@unittest.skipUnless(HAVE_MATPLOTLIB, f"no matplotlib in {sys.executable}")
class WorkFigure(unittest.TestCase):
    """work_figure from the fixed results: threaded-server served every
    connection, threadpool-server 4 of them at every point."""

    @classmethod
    def setUpClass(cls):
        # Drawn once: the tests only read it.
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        cls.fig = charts.work_figure(plt, fixed_results()["work"])
        cls.addClassCleanup(plt.close, cls.fig)
        cls.fig.tight_layout()  # as draw_charts lays it out before saving
        cls.fig.canvas.draw()
        cls.panels = [ax for ax in cls.fig.axes if ax.axison]
        cls.legend = next(ax for ax in cls.fig.axes if not ax.axison).get_legend()

    def test_panels_per_connection_count_share_their_rows_y_axis(self):
        self.assertEqual([ax.get_title() for ax in self.panels],
                         ["10 connections", "100 connections", "", ""])
        rates, p99s = self.panels[:2], self.panels[2:]
        self.assertEqual(rates[0].get_ylim(), rates[1].get_ylim())
        self.assertEqual(p99s[0].get_ylim(), p99s[1].get_ylim())
        self.assertNotEqual(rates[0].get_ylim(), p99s[0].get_ylim())
        self.assertEqual(rates[0].get_ylabel(), "requests per second (log scale)")
        self.assertEqual(p99s[0].get_ylabel(), "p99 round trip, us (log scale)")

    def test_work_us_from_zero_on_a_log_axis_with_every_value_labelled(self):
        for ax in self.panels:
            self.assertEqual(ax.get_xscale(), "symlog")
            self.assertEqual([t.get_text() for t in ax.get_xticklabels()], ["0", "10", "100", "1,000"])
            self.assertEqual(ax.get_yscale(), "log")
            low, high = ax.get_ylim()
            labelled = [t for t, label in zip(ax.get_yticks(), ax.get_yticklabels())
                        if low <= t <= high and label.get_text()]
            self.assertGreaterEqual(len(labelled), 3, ax.get_ylim())

    def test_one_line_per_server_and_hollow_markers_where_connections_waited(self):
        self.assertEqual([t.get_text() for t in self.legend.get_texts()],
                         ["threaded-server", "threadpool-server", "ceiling: 2 CPUs doing only the work",
                          "hollow: served only some of its connections"])
        for ax in self.panels:
            hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "white"]
            self.assertEqual(len(hollow), 1)  # threadpool-server's points, all four
            self.assertEqual(list(hollow[0].get_xdata()), [0, 10, 100, 1000])
        # threaded-server at 10 connections, as measured.
        rate_line, p99_line = (self.panels[i].get_lines()[0] for i in (0, 2))
        self.assertEqual(list(rate_line.get_ydata()), [90000.0, 9000.0, 900.0, 90.0])
        self.assertEqual(list(p99_line.get_ydata()), [100.0, 1000.0, 10000.0, 100000.0])
        for ax in self.panels[:2]:
            ceiling = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
            self.assertEqual([list(ceiling[0].get_xdata()), list(ceiling[0].get_ydata())],
                             [[10, 100, 1000], [200000.0, 20000.0, 2000.0]])

    def test_the_legend_covers_no_panel(self):
        renderer = self.fig.canvas.get_renderer()
        legend = self.legend.get_window_extent(renderer)
        for ax in self.panels:
            # The panel with its ticks, their labels and its axis labels.
            self.assertFalse(legend.overlaps(ax.get_tightbbox(renderer)), ax.get_title())


if __name__ == "__main__":
    unittest.main()
