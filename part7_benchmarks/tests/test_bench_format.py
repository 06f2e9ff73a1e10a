"""Tests of bench_format: ratios, numbers, Markdown tables, row lookup and
the log line. Pure; nothing runs.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_format.py
"""

import contextlib
import io
import unittest

import bench_testing  # noqa: F401  (puts part7_benchmarks/ on sys.path)
import bench_format as fmt


class Formatting(unittest.TestCase):
    def test_ratios(self):
        self.assertEqual(fmt.format_ratio(250, 100), "x2.50")
        self.assertEqual(fmt.format_ratio(100, 100), "x1.00")
        self.assertEqual(fmt.format_ratio(22, 7977), "x0.0028")
        self.assertEqual(fmt.format_ratio(50000, 100), "x500")
        self.assertEqual(fmt.format_ratio(0, 100), "x0")
        self.assertEqual(fmt.format_ratio(5, 0), "n/a")
        self.assertEqual(fmt.format_ratio(None, 5), "n/a")
        self.assertEqual(fmt.format_ratio(5, None), "n/a")

    def test_numbers(self):
        self.assertEqual(fmt.format_number(12345.6), "12346")
        self.assertEqual(fmt.format_number(0.012345), "0.0123")
        self.assertEqual(fmt.format_number(22.34), "22.3")
        self.assertEqual(fmt.format_number(7), "7")
        self.assertEqual(fmt.format_number(True), "yes")
        self.assertEqual(fmt.format_number(None), "n/a")
        self.assertEqual(fmt.format_number(0.0), "0")

    def test_markdown_table(self):
        table = fmt.markdown_table([{"a": 1, "b": 2.5}, {"a": 3, "b": None}],
                                   [("A", "a"), ("B", "b"), ("sum", lambda r: "s")])
        self.assertEqual(table.splitlines(), ["| A | B | sum |", "|---|---|---|",
                                              "| 1 | 2.5 | s |", "| 3 | n/a | s |"])


class Find(unittest.TestCase):
    def test_the_first_row_matching_every_field(self):
        rows = [{"server": "a", "connections": 1}, {"server": "b", "connections": 1},
                {"server": "b", "connections": 10}, {"server": "b", "connections": 10, "x": 1}]
        self.assertIs(fmt.find(rows, server="b", connections=10), rows[2])
        self.assertIs(fmt.find(rows), rows[0])
        self.assertIsNone(fmt.find(rows, server="c"))
        self.assertIsNone(fmt.find(rows, x=2))


class Log(unittest.TestCase):
    def test_one_prefixed_line_on_stderr(self):
        stderr, stdout = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            fmt.log("experiment nagle")
        self.assertEqual(stderr.getvalue(), "bench: experiment nagle\n")
        self.assertEqual(stdout.getvalue(), "")


if __name__ == "__main__":
    unittest.main()
