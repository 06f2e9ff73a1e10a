# `check` must pass a correct server and fail each deliberately broken one,
# naming the case that catches the bug: proof that it cannot pass vacuously.
from __future__ import annotations

import unittest

from sim_server import ServerProcess, server_command

from .support import TEST_SERVER, last_line, server_spec, simulator

# Against a broken server a case fails by timing out; keep that short.
BROKEN_TIMEOUT = "2"

# (flavour of the self-test server, protocol, case that must fail)
BROKEN_SERVERS = [
    ("drop-byte", "shift", "byte-wrap"),
    ("drop-byte", "framed", "pipelined"),
    ("no-greeting", "shift", "greeting"),
    ("answers-outside", "shift", "outside-ignored"),
    ("merge-clients", "shift", "concurrent-clients"),
    ("merge-clients", "framed", "concurrent-clients"),
    ("no-frame-limit", "framed", "oversized-frame"),
    ("exit-on-reset", "shift", "reset-mid-message"),
    ("exit-on-reset", "framed", "reset-mid-frame"),
    ("drop-on-half-close", "shift", "half-close"),
    ("drop-on-half-close", "framed", "half-close"),
    ("close-after-first-reply", "shift", "split-two-sends"),
    ("close-after-first-reply", "framed", "header-split"),
    ("bad-exit-status", "shift", "graceful-shutdown"),
    ("no-grace", "framed", "graceful-shutdown"),
]


def check(protocol: str, flavour: str, *extra: str):
    return simulator(["check", "--protocol", protocol, "--server", server_spec(flavour)]
                     + list(extra))


class CorrectServersPass(unittest.TestCase):
    def assert_all_pass(self, protocol: str, flavour: str) -> None:
        result = check(protocol, flavour)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("FAIL", result.stdout)
        listed = simulator(["check", "--protocol", protocol, "--list"]).stdout.splitlines()
        self.assertEqual(last_line(result.stdout), "%d passed, 0 failed" % len(listed))

    def test_threaded_shift(self):
        self.assert_all_pass("shift", "correct")

    def test_threaded_framed(self):
        self.assert_all_pass("framed", "correct")

    def test_sequential_shift(self):
        self.assert_all_pass("shift", "sequential")

    def test_sequential_framed(self):
        self.assert_all_pass("framed", "sequential")

    def test_address_mode_runs_without_graceful_shutdown(self):
        server = ServerProcess(server_command(str(TEST_SERVER), "framed"))
        try:
            host, port = server.start()
            result = simulator(["check", "--protocol", "framed", "--address",
                                "%s:%d" % (host, port)])
        finally:
            server.close()
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertNotIn("graceful-shutdown", result.stdout)


class BrokenServersFail(unittest.TestCase):
    def test_each_bug_is_caught_by_its_case(self):
        for flavour, protocol, case in BROKEN_SERVERS:
            with self.subTest(flavour=flavour, protocol=protocol, case=case):
                result = check(protocol, flavour, "--only", case, "--timeout", BROKEN_TIMEOUT)
                self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
                self.assertIn("FAIL %s: " % case, result.stdout)
                self.assertEqual(last_line(result.stdout), "0 passed, 1 failed")

    def test_a_crash_is_reported_and_the_suite_goes_on(self):
        result = check("shift", "exit-on-reset", "--timeout", BROKEN_TIMEOUT)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("FAIL reset-mid-message: the server process exited with status 3",
                      result.stdout)
        self.assertIn("a client reset its connection: exiting", result.stdout)  # its stderr
        self.assertIn("FAIL graceful-shutdown: the server process is no longer running",
                      result.stdout)
        self.assertIn("PASS greeting", result.stdout)


class CommandLine(unittest.TestCase):
    def test_list_names_every_case(self):
        result = simulator(["check", "--protocol", "shift", "--list"])
        self.assertEqual(result.returncode, 0)
        names = [line.split()[0] for line in result.stdout.splitlines()]
        for name in ("greeting", "original-tester1", "original-tester2", "split-two-sends",
                     "concurrent-clients", "half-close", "graceful-shutdown"):
            self.assertIn(name, names)

    def test_unknown_case_is_a_usage_error(self):
        result = simulator(["check", "--protocol", "framed", "--server", server_spec(),
                            "--only", "no-such-case"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown case(s) no-such-case", result.stdout)

    def test_server_that_cannot_start_is_reported(self):
        result = simulator(["check", "--server", "/nonexistent/server-binary"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("the server did not start", result.stdout)


if __name__ == "__main__":
    unittest.main()
