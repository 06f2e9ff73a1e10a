"""Tests of bench_charts: draw_charts writes one PNG per experiment from
fixed result data and names them for the report; without matplotlib it
draws nothing and says so. Needs matplotlib for the first (Debian's
python3-matplotlib, in /usr/bin/python3); an interpreter without it skips
that test and says why.

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
CHARTED = ("throughput", "nagle", "backlog", "clients", "chat", "idle", "scaling", "completion")

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


if __name__ == "__main__":
    unittest.main()
