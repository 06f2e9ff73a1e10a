# `hostile` must pass a correct server and fail each deliberately broken one
# in the case meant to catch its flaw: proof that no case passes vacuously.
# The servers are tests/servers/flavoured_server.py, whose hostile flavours
# each break one thing the suite measures (memory, descriptors, CPU, log,
# timeouts, shutdown).
from __future__ import annotations

import unittest
from concurrent.futures import ThreadPoolExecutor

from sim_hostile_registry import CHAT, PROTOCOLS, hostile_command

from .support import last_line, server_spec, simulator

# A few runs at a time: most of a hostile run is waiting (timeouts, grace
# periods, a measured window), but the memory and CPU cases need the
# machine's cores, so not many more than it has.
PARALLEL_RUNS = 3
# No hostile run may take this long (a full one takes about 15 s).
RUN_TIMEOUT = 150.0
# Cases whose verdict does not depend on what the protocol's requests are
# made of (descriptor counts, CPU time, log lines): a flaw caught in one
# protocol proves them for all, so not every protocol needs its own.
SAME_FOR_EVERY_PROTOCOL = {"descriptor-exhaustion", "garbage-then-reset"}

# (flavour, protocol, case that must fail, text its reason must contain)
BROKEN_SERVERS = [
    ("no-frame-limit", "framed", "huge-header-flood", "grew by"),
    ("unbounded-output", "shift", "big-message-never-reads", "grew by"),
    ("unbounded-output", "framed", "big-message-never-reads", "grew by"),
    # Serving one client at a time, it cannot serve the bystander while it
    # is stuck sending replies nobody reads (see SequentialPassesWithoutBystander).
    ("sequential", "shift", "big-message-never-reads", "bystander"),
    ("leak-on-reset", "shift", "garbage-then-reset", "descriptors"),
    ("leak-on-reset", "framed", "garbage-then-reset", "descriptors"),
    ("exit-on-reset", "framed", "garbage-then-reset", "status 3"),
    ("spin-at-emfile", "shift", "descriptor-exhaustion", "busy-loops"),
    ("log-flood-at-emfile", "framed", "descriptor-exhaustion", "warning lines"),
    ("exit-at-emfile", "shift", "descriptor-exhaustion", "exited with status 4"),
    ("no-idle-timeout", "shift", "idle-timeout", "timed out after 2.5 s waiting for the "
                                                  "server to close"),
    ("idle-from-request", "framed", "idle-timeout", "must count from the last byte"),
    # Its idle clock counts received bytes only: idle-timeout cannot tell
    # (see SlowReader below), a client that reads a large reply slowly can.
    ("idle-ignores-sent", "framed", "slow-reader", "not only received"),
    ("no-request-timeout", "framed", "request-timeout", "did not close"),
    ("request-timeout-when-idle", "shift", "request-timeout", "no request was under way"),
    ("garbles-on-sigterm", "shift", "sigterm-under-load", "wrong byte"),
    ("garbles-on-sigterm", "framed", "sigterm-under-load", "wrong byte"),
    ("bad-exit-status", "framed", "sigterm-under-load", "status 1"),
    # packet and line: what a flood, a trickle and a load are made of.
    ("unbounded-output", "packet", "big-message-never-reads", "grew by"),
    ("idle-from-request", "packet", "idle-timeout", "must count from the last byte"),
    ("no-request-timeout", "packet", "request-timeout", "did not close"),
    ("garbles-on-sigterm", "packet", "sigterm-under-load", "wrong byte"),
    ("unbounded-output", "line", "big-message-never-reads", "grew by"),
    ("idle-from-request", "line", "idle-timeout", "must count from the last byte"),
    ("no-request-timeout", "line", "request-timeout", "did not close"),
    ("garbles-on-sigterm", "line", "sigterm-under-load", "wrong byte"),
    # chat: served means a frame reached the other client of a pair.
    ("no-frame-limit", "chat", "huge-header-flood", "grew by"),
    ("unbounded-output", "chat", "big-message-never-reads", "grew by"),
    # A room whose sender blocks on a member that does not read, lock held:
    # the bystander pair's frames never get through.
    ("global-lock", "chat", "big-message-never-reads", "bystander"),
    ("leak-on-reset", "chat", "garbage-then-reset", "descriptors"),
    ("idle-from-request", "chat", "idle-timeout", "must count from the last byte"),
    ("idle-ignores-sent", "chat", "slow-reader", "not only received"),
    ("no-request-timeout", "chat", "request-timeout", "did not close"),
    ("request-timeout-when-idle", "chat", "request-timeout", "no request was under way"),
    ("garbles-on-sigterm", "chat", "sigterm-under-load", "wrong byte"),
]


def hostile(protocol: str, flavour: str, *extra: str):
    # hostile starts a chat server without --protocol (chat-server refuses
    # it); the self-test server is told in its ARGS instead.
    spec = server_spec(flavour) + (" --protocol chat" if protocol == CHAT else "")
    return simulator(["hostile", "--protocol", protocol, "--server", spec] + list(extra),
                     timeout=RUN_TIMEOUT)


def hostile_all(runs):
    """hostile(protocol, flavour, *extra) for each (protocol, flavour, extra),
    PARALLEL_RUNS at a time; the results in the same order."""
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        return list(pool.map(lambda run: hostile(run[0], run[1], *run[2]), runs))


def listed_cases(protocol: str):
    result = simulator(["hostile", "--protocol", protocol, "--list"])
    return [line.split()[0] for line in result.stdout.splitlines()]


class CorrectServersPass(unittest.TestCase):
    RUNS = [("shift", "correct", ()), ("framed", "correct", ()),
            ("packet", "correct", ()), ("line", "correct", ()), ("chat", "correct", ()),
            ("shift", "sequential", ("--one-at-a-time",)),
            ("framed", "sequential", ("--one-at-a-time",))]

    @classmethod
    def setUpClass(cls):
        cls.results = dict(zip([(protocol, flavour) for protocol, flavour, _ in cls.RUNS],
                               hostile_all(cls.RUNS)))

    def assert_all_pass(self, protocol: str, flavour: str):
        result = self.results[(protocol, flavour)]
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        cases = listed_cases(protocol)
        for name in cases:
            self.assertRegex(result.stdout, r"(?m)^PASS %s \(\d+\.\d\d s" % name)
        self.assertEqual(last_line(result.stdout), "%d passed, 0 failed" % len(cases))
        return result

    def test_threaded_shift(self):
        result = self.assert_all_pass("shift", "correct")
        self.assertIn("SKIP slow-reader: not for shift: ", result.stdout)

    def test_threaded_framed(self):
        result = self.assert_all_pass("framed", "correct")
        self.assertNotIn("no bystander", result.stdout)
        # Its writes were seen going on after the request: the case judged it.
        self.assertRegex(result.stdout, r"PASS slow-reader \(.*the server wrote the reply for "
                                        r"\d+\.\d\d s \(\d+ writes seen\)")

    def test_threaded_packet(self):
        result = self.assert_all_pass("packet", "correct")
        self.assertIn("SKIP huge-header-flood: not for packet: ", result.stdout)
        self.assertIn("SKIP slow-reader: not for packet: ", result.stdout)

    def test_threaded_line(self):
        result = self.assert_all_pass("line", "correct")
        self.assertIn("SKIP huge-header-flood: not for line: ", result.stdout)
        self.assertIn("SKIP slow-reader: not for line: ", result.stdout)

    def test_chat_room(self):
        result = self.assert_all_pass("chat", "correct")
        self.assertNotIn("SKIP", result.stdout)
        self.assertRegex(result.stdout, r"PASS big-message-never-reads \(.*flood: sent")
        self.assertRegex(result.stdout, r"PASS slow-reader \(.*frames over .* to a member that "
                                        r"only received")

    def test_sequential_shift_without_bystanders(self):
        result = self.assert_all_pass("shift", "sequential")
        self.assertRegex(result.stdout, r"PASS big-message-never-reads \(.*no bystander")

    def test_sequential_framed_without_bystanders(self):
        result = self.assert_all_pass("framed", "sequential")
        self.assertRegex(result.stdout, r"PASS huge-header-flood \(.*no bystander")


class BrokenServersFail(unittest.TestCase):
    def test_each_flaw_is_caught_by_its_case(self):
        results = hostile_all([(protocol, flavour, ("--only", case))
                               for flavour, protocol, case, _ in BROKEN_SERVERS])
        for (flavour, protocol, case, reason), result in zip(BROKEN_SERVERS, results):
            with self.subTest(flavour=flavour, protocol=protocol, case=case):
                output = result.stdout + result.stderr
                self.assertEqual(result.returncode, 1, output)
                self.assertIn("FAIL %s: " % case, result.stdout)
                failure = result.stdout.split("FAIL %s: " % case, 1)[1]
                self.assertIn(reason, failure, output)
                self.assertEqual(last_line(result.stdout), "0 passed, 1 failed")

    def test_every_case_has_a_flaw_that_fails_it(self):
        everywhere = {case for _, _, case, _ in BROKEN_SERVERS}
        for protocol in PROTOCOLS:
            with self.subTest(protocol=protocol):
                listed = set(listed_cases(protocol))
                caught = {case for _, caught_in, case, _ in BROKEN_SERVERS
                          if caught_in == protocol}
                self.assertEqual(listed - everywhere, set())
                self.assertEqual(listed - caught - SAME_FOR_EVERY_PROTOCOL, set())


class SlowReader(unittest.TestCase):
    """The flaw slow-reader exists for: an idle clock that counts received
    bytes only passes idle-timeout (its trickler sends), and is caught only
    by a client that reads without sending (issue 14)."""

    def test_idle_clock_of_received_bytes_passes_idle_timeout_but_not_slow_reader(self):
        results = hostile_all([(protocol, flavour, ("--only", "idle-timeout", "slow-reader"))
                               for protocol in ("framed", "chat")
                               for flavour in ("correct", "idle-ignores-sent")])
        outcomes = zip([(protocol, flavour) for protocol in ("framed", "chat")
                        for flavour in ("correct", "idle-ignores-sent")], results)
        for (protocol, flavour), result in outcomes:
            with self.subTest(protocol=protocol, flavour=flavour):
                self.assertIn("PASS idle-timeout", result.stdout)
                if flavour == "correct":
                    self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                    self.assertIn("PASS slow-reader", result.stdout)
                    continue
                self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
                self.assertRegex(result.stdout, r"FAIL slow-reader: the server closed .* at most "
                                                r"\d+\.\d\d s after it was last seen sending")
                self.assertEqual(last_line(result.stdout), "1 passed, 1 failed")


class CommandLine(unittest.TestCase):
    def test_huge_header_flood_needs_a_length_header(self):
        for protocol in PROTOCOLS:
            listed = "huge-header-flood" in listed_cases(protocol)
            self.assertEqual(listed, protocol in ("framed", "chat"), protocol)

    def test_slow_reader_needs_a_reply_that_outlasts_the_timeout(self):
        for protocol in PROTOCOLS:
            listed = "slow-reader" in listed_cases(protocol)
            self.assertEqual(listed, protocol in ("framed", "chat"), protocol)

    def test_a_case_not_for_the_protocol_is_skipped_with_its_reason(self):
        result = hostile("shift", "correct", "--only", "huge-header-flood", "garbage-then-reset")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("SKIP huge-header-flood: not for shift: shift has no header", result.stdout)
        self.assertIn("PASS garbage-then-reset", result.stdout)
        self.assertEqual(last_line(result.stdout), "1 passed, 0 failed")

    def test_chat_server_is_started_without_protocol(self):
        self.assertEqual(hostile_command("chat-server --broadcast queue", CHAT),
                         ["chat-server", "--port", "0", "--broadcast", "queue"])
        self.assertIn("--protocol", hostile_command("epoll-server", "framed"))

    def test_design_limit_skips_the_case(self):
        result = hostile("framed", "correct", "--only", "garbage-then-reset", "idle-timeout",
                         "--design-limit", "idle-timeout:one pool thread per client")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("SKIP idle-timeout: one pool thread per client", result.stdout)
        self.assertIn("PASS garbage-then-reset", result.stdout)
        self.assertEqual(last_line(result.stdout), "1 passed, 0 failed")

    def test_bad_design_limit_is_a_usage_error(self):
        result = hostile("shift", "correct", "--design-limit", "no-such-case:why")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--design-limit wants CASE:REASON", result.stdout)

    def test_unknown_case_is_a_usage_error(self):
        result = hostile("shift", "correct", "--only", "no-such-case")
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown case(s): no-such-case; known for shift: ", result.stdout)

    def test_server_that_cannot_start_is_a_usage_error(self):
        result = simulator(["hostile", "--server", "/nonexistent/server-binary"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("the server did not start", result.stdout)

    def test_a_server_without_an_option_fails_that_case_clearly(self):
        result = hostile("shift", "without-request-timeout", "--only", "request-timeout",
                         "idle-timeout")
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("FAIL request-timeout: the server did not start (started with "
                      "--request-timeout-ms 800 --idle-timeout-ms 0)", result.stdout)
        self.assertIn("unrecognized arguments: --request-timeout-ms", result.stdout)
        self.assertIn("PASS idle-timeout", result.stdout)

if __name__ == "__main__":
    unittest.main()
