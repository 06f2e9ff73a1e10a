# `check` must pass a correct server and fail each deliberately broken one,
# naming the case that catches the bug: proof that it cannot pass vacuously.
from __future__ import annotations

import unittest
from concurrent.futures import ThreadPoolExecutor
from typing import List, Tuple

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
    # packet
    ("drop-byte", "packet", "round-trip"),
    ("signed-header", "packet", "every-length"),
    ("no-reassembly", "packet", "one-byte-at-a-time"),
    ("no-reassembly", "packet", "split-every-position"),
    ("one-per-read", "packet", "pipelined"),
    ("echo-bad-header", "packet", "bad-header-0"),
    ("echo-bad-header", "packet", "bad-header-1"),
    ("error-closes-all", "packet", "bad-header-0"),
    ("error-closes-all", "packet", "bad-header-1"),
    ("merge-clients", "packet", "concurrent-clients"),
    ("drop-on-half-close", "packet", "half-close"),
    ("exit-on-unfinished", "packet", "close-mid-packet"),
    ("exit-on-reset", "packet", "reset-mid-packet"),
    ("no-grace", "packet", "graceful-shutdown"),
    # line
    ("no-greeting", "line", "greeting"),
    ("echo-splits-words", "line", "echo-and-noop"),
    ("crlf-only", "line", "line-endings"),
    ("case-sensitive", "line", "case-insensitive"),
    ("unknown-closes", "line", "unknown-command"),
    ("no-reassembly", "line", "one-byte-at-a-time"),
    ("no-reassembly", "line", "split-every-position"),
    ("one-per-read", "line", "pipelined"),
    ("max-line-off-by-one", "line", "max-line"),
    ("counts-cr", "line", "max-line-cr-split"),
    ("overlong-at-lf", "line", "line-too-long"),
    ("error-closes-all", "line", "line-too-long"),
    ("limit-partial-only", "line", "line-too-long-with-lf"),
    ("error-closes-all", "line", "line-too-long-with-lf"),
    ("quit-stays-open", "line", "quit"),
    ("answers-after-quit", "line", "bytes-after-quit"),
    ("merge-clients", "line", "concurrent-clients"),
    ("drop-on-half-close", "line", "half-close"),
    ("exit-on-unfinished", "line", "close-mid-line"),
    ("exit-on-reset", "line", "reset-mid-line"),
    ("bad-exit-status", "line", "graceful-shutdown"),
]
# Checks run a few at a time: each run mostly waits (for a timeout, or a
# grace period), so this saves time even on 2 cores.
PARALLEL_CHECKS = 4
# (protocol, flavour) of the full runs that must pass every case.
CORRECT_SERVERS = [(protocol, flavour) for flavour in ("correct", "sequential")
                   for protocol in ("shift", "framed", "packet", "line")]


def check(protocol: str, flavour: str, *extra: str):
    return simulator(["check", "--protocol", protocol, "--server", server_spec(flavour)]
                     + list(extra))


def check_all(runs: List[Tuple[str, str, Tuple[str, ...]]]):
    """check(protocol, flavour, *extra) for each run, PARALLEL_CHECKS at a
    time; the results in the same order."""
    with ThreadPoolExecutor(PARALLEL_CHECKS) as pool:
        return list(pool.map(lambda run: check(run[0], run[1], *run[2]), runs))


class CorrectServersPass(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # All the full runs at once, whichever tests were selected; each
        # test then judges its own.
        results = check_all([(protocol, flavour, ()) for protocol, flavour in CORRECT_SERVERS])
        cls.results = dict(zip(CORRECT_SERVERS, results))

    def assert_all_pass(self, protocol: str, flavour: str) -> None:
        result = self.results[(protocol, flavour)]
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertNotIn("FAIL", result.stdout)
        listed = simulator(["check", "--protocol", protocol, "--list"]).stdout.splitlines()
        self.assertEqual(last_line(result.stdout), "%d passed, 0 failed" % len(listed))

    def test_threaded_shift(self):
        self.assert_all_pass("shift", "correct")

    def test_threaded_framed(self):
        self.assert_all_pass("framed", "correct")

    def test_threaded_packet(self):
        self.assert_all_pass("packet", "correct")

    def test_threaded_line(self):
        self.assert_all_pass("line", "correct")

    def test_sequential_shift(self):
        self.assert_all_pass("shift", "sequential")

    def test_sequential_framed(self):
        self.assert_all_pass("framed", "sequential")

    def test_sequential_packet(self):
        self.assert_all_pass("packet", "sequential")

    def test_sequential_line(self):
        self.assert_all_pass("line", "sequential")

    def test_line_with_another_max_line(self):
        result = check("line", "correct", "--max-line", "40", "--only", "max-line",
                       "max-line-cr-split", "line-too-long", "line-too-long-with-lf", "pipelined")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("--max-line 40", result.stdout)  # passed to the server
        self.assertEqual(last_line(result.stdout), "5 passed, 0 failed")

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
        results = check_all([(protocol, flavour, ("--only", case, "--timeout", BROKEN_TIMEOUT))
                             for flavour, protocol, case in BROKEN_SERVERS])
        for (flavour, protocol, case), result in zip(BROKEN_SERVERS, results):
            with self.subTest(flavour=flavour, protocol=protocol, case=case):
                self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
                self.assertIn("FAIL %s: " % case, result.stdout)
                self.assertEqual(last_line(result.stdout), "0 passed, 1 failed")

    def test_a_crash_is_reported_and_the_suite_goes_on(self):
        result = check("shift", "exit-on-reset", "--timeout", BROKEN_TIMEOUT)
        self.assertEqual(result.returncode, 1, result.stdout)
        # close-mid-message may already crash it: closing with the echo of
        # the unfinished message still unread makes the kernel send RST.
        self.assertRegex(result.stdout, r"FAIL (close|reset)-mid-message: "
                                        r"the server process exited with status 3")
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

    def test_every_case_of_packet_and_line_has_a_bug_that_fails_it(self):
        for protocol in ("packet", "line"):
            listed = simulator(["check", "--protocol", protocol, "--list"]).stdout.splitlines()
            caught = {case for _, broken_protocol, case in BROKEN_SERVERS
                      if broken_protocol == protocol}
            self.assertEqual({line.split()[0] for line in listed} - caught, set(), protocol)

    def test_max_line_is_checked(self):
        result = simulator(["check", "--protocol", "packet", "--server", server_spec(),
                            "--max-line", "100"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("--max-line applies to --protocol line only", result.stdout)
        result = simulator(["check", "--protocol", "line", "--server", server_spec(),
                            "--max-line", "8"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("--max-line must be", result.stdout)

    def test_server_that_cannot_start_is_reported(self):
        result = simulator(["check", "--server", "/nonexistent/server-binary"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("the server did not start", result.stdout)


if __name__ == "__main__":
    unittest.main()
