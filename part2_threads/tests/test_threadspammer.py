"""Tests of threadspammer: the report's fields, what --stack-kb changes, the
bounds of its options, and a thread creation failure reported, not fatal.

Run by ctest, which passes the binary in CS_THREADSPAMMER.
"""
from __future__ import annotations

import json
import resource
import subprocess
import unittest
from typing import Any, Dict, List, Optional

from harness import binary

RUN_TIMEOUT = 60.0


def spam(*args: str, address_space_limit: Optional[int] = None) -> Dict[str, Any]:
    """Runs threadspammer; returns its JSON report (the first stdout line)
    with the human line under "_line"."""

    def limit_address_space() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space_limit, address_space_limit))

    completed = subprocess.run([binary("CS_THREADSPAMMER"), *args], capture_output=True,
                               universal_newlines=True, timeout=RUN_TIMEOUT,
                               preexec_fn=limit_address_space if address_space_limit else None)
    if completed.returncode != 0:
        raise AssertionError("threadspammer %s exited %d:\n%s" % (
            " ".join(args), completed.returncode, completed.stderr))
    lines: List[str] = completed.stdout.splitlines()
    if len(lines) != 2:
        raise AssertionError("expected a JSON line and a human line, got:\n" + completed.stdout)
    report = json.loads(lines[0])
    report["_line"] = lines[1]
    report["_stderr"] = completed.stderr
    return report


class ThreadSpammerTest(unittest.TestCase):
    def test_reports_every_field(self) -> None:
        report = spam("--threads", "20", "--period-ms", "10", "--seconds", "0.5")
        self.assertEqual(report["threads_requested"], 20)
        self.assertEqual(report["threads_started"], 20)
        self.assertIsNone(report["create_error"])
        self.assertEqual(report["period_ms"], 10)
        # Absolute deadlines: every thread wakes exactly seconds / period times.
        self.assertEqual(report["wakeups"], 20 * 50)
        self.assertGreaterEqual(report["wall_seconds"], 0.5)
        self.assertGreater(report["vm_rss_kb"], 0)
        self.assertGreater(report["vm_size_kb"], report["vm_rss_kb"])
        self.assertGreaterEqual(report["vm_peak_kb"], report["vm_size_kb"])
        self.assertGreater(report["vm_hwm_kb"], 0)  # peak RSS: the kernel updates it lazily
        self.assertGreater(report["stack_kb"], 0)
        for field in ("cpu_user_seconds", "cpu_sys_seconds", "cpu_percent_of_one_core",
                      "cpu_percent_of_machine", "start_seconds", "start_cpu_seconds"):
            self.assertGreaterEqual(report[field], 0.0, field)
        self.assertGreaterEqual(report["cores"], 1)
        self.assertAlmostEqual(report["cpu_percent_of_machine"] * report["cores"],
                               report["cpu_percent_of_one_core"], delta=0.2 * report["cores"])
        # Each wake-up follows a sleep, and a sleep gives up the CPU; a thread
        # that woke late may skip a sleep, hence only half.
        self.assertGreaterEqual(report["voluntary_context_switches"], report["wakeups"] // 2)
        self.assertGreaterEqual(report["involuntary_context_switches"], 0)
        self.assertGreaterEqual(report["mean_lateness_ms"], 0.0)
        self.assertGreaterEqual(report["max_lateness_ms"], report["mean_lateness_ms"])
        self.assertLessEqual(report["wakeups_late_by_a_period"], report["wakeups"])
        self.assertRegex(report["_line"], r"^started 20 of 20 threads .* resident .* virtual "
                                          r".* CPU .* context switches; wake-ups .* late$")

    def test_small_stacks_shrink_virtual_memory(self) -> None:
        threads = 100
        default = spam("--threads", str(threads), "--period-ms", "100", "--seconds", "0.2")
        small = spam("--threads", str(threads), "--period-ms", "100", "--seconds", "0.2",
                     "--stack-kb", "64")
        self.assertEqual(small["stack_kb"], 64)
        self.assertGreater(default["stack_kb"], 1024)
        # Each thread reserves its whole stack: the difference is about
        # threads * (default - small) stack sizes (the sanitizers' own
        # mappings blur it a little).
        saved = default["vm_size_kb"] - small["vm_size_kb"]
        self.assertGreaterEqual(saved, 0.8 * threads * (default["stack_kb"] - 64))

    def test_options_are_bounded(self) -> None:
        for args in (["--threads", "0"], ["--threads", "20001"], ["--seconds", "61"],
                     ["--period-ms", "0"], ["--stack-kb", "100000"]):
            completed = subprocess.run([binary("CS_THREADSPAMMER"), *args], capture_output=True,
                                       universal_newlines=True, timeout=RUN_TIMEOUT)
            self.assertEqual(completed.returncode, 2, args)
            self.assertEqual(completed.stdout, "", args)


class ThreadLimitTest(unittest.TestCase):
    def test_a_creation_failure_reports_the_threads_that_started(self) -> None:
        # 512 MiB of address space holds only a few dozen 8 MiB stacks.
        report = spam("--threads", "1000", "--period-ms", "100", "--seconds", "0.2",
                      address_space_limit=512 * 1024 * 1024)
        self.assertGreater(report["threads_started"], 0)
        self.assertLess(report["threads_started"], 1000)
        self.assertEqual(report["create_error"], "Resource temporarily unavailable")
        self.assertEqual(report["wakeups"], report["threads_started"] * 2)
        self.assertIn("pthread_create failed after %d threads" % report["threads_started"],
                      report["_stderr"])


if __name__ == "__main__":
    unittest.main()
