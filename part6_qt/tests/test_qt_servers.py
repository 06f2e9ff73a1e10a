#!/usr/bin/env python3
"""Behaviour tests of the Qt servers that the conformance suite cannot see:
the pool's connection limit, shutdown across threads, and that no Qt
thread-affinity warning is ever printed.

    python3 test_qt_servers.py PATH/TO/SERVER [TestCase.test_name ...]

Ordering is proved by events (the shift greeting '*' arriving). One check
is about a greeting *not* arriving yet; absence can only be observed over a
window (ABSENCE_WINDOW): a correct server passes however slow the machine.
"""
from __future__ import annotations

import sys
import unittest

from qt_testing import ABSENCE_WINDOW, Client, Server

SERVER = ""  # set from the command line
GRACE_MS = 1000


def exchange(client: Client) -> None:
    client.send(b"^abc$")
    reply = client.read(3)
    assert reply == b"bcd", "expected b'bcd', got %r" % reply


class PoolOfOne(unittest.TestCase):
    """qt-server-pool --threads 1: the pool size is the connection limit."""

    def setUp(self) -> None:
        self.server = Server([SERVER, "--port", "0", "--threads", "1",
                              "--shutdown-grace-ms", str(GRACE_MS)])

    def tearDown(self) -> None:
        self.server.kill()

    def test_second_client_is_greeted_only_when_the_first_leaves(self) -> None:
        first = Client(self.server.host, self.server.port)
        self.assertEqual(first.read(1), b"*")
        second = Client(self.server.host, self.server.port)
        self.assertEqual(second.read(1, timeout=ABSENCE_WINDOW), b"",
                         "a second client was greeted while the only pool thread was busy")
        exchange(first)
        first.close()
        self.assertEqual(second.read(1), b"*", "the queued client was not greeted")
        exchange(second)
        second.close()
        self.assertEqual(self.server.stop(), 0)
        self.assertEqual(self.server.thread_warnings(), [])

    def test_sigterm_closes_the_queued_client_and_lets_the_served_one_finish(self) -> None:
        served = Client(self.server.host, self.server.port)
        self.assertEqual(served.read(1), b"*")
        queued = Client(self.server.host, self.server.port)
        self.assertEqual(queued.read(1, timeout=ABSENCE_WINDOW), b"")
        self.server.terminate()
        # Closed ungreeted, at once: well before the grace period ends.
        self.assertEqual(queued.read(1, timeout=GRACE_MS / 1000 / 2), b"",
                         "the queued client was greeted after the stop")
        self.assertTrue(queued.at_eof(timeout=GRACE_MS / 1000 / 2),
                        "the queued client was not closed promptly")
        exchange(served)  # still served during the grace period
        self.assertTrue(served.at_eof(), "the served client was not closed after the grace period")
        self.assertEqual(self.server.wait_exit(), 0)
        self.assertEqual(self.server.thread_warnings(), [])


class DescriptorLimit(unittest.TestCase):
    """qt-server-threads with RLIMIT_NOFILE 48: (48 - 32 reserved) / 2 = 8
    clients at once. Without the limit, the thread of a client beyond it
    finds no descriptor for its event loop and Qt aborts the process."""

    def test_a_client_beyond_the_limit_is_refused_and_the_others_are_served(self) -> None:
        server = Server([SERVER, "--port", "0"], open_files=48)
        clients = []
        try:
            self.assertIsNotNone(server.wait_for_line(r"at most 8 clients at once"), server.log())
            clients = [Client(server.host, server.port) for _ in range(8)]
            for client in clients:
                self.assertEqual(client.read(1), b"*")
            # Enough more that, unrefused, their threads would run out of descriptors.
            extra = [Client(server.host, server.port) for _ in range(12)]
            for client in extra:
                self.assertTrue(client.at_eof(), "a client beyond the limit was not closed")
                client.close()
            self.assertIsNotNone(server.wait_for_line(r"refusing a client: 8 clients"), server.log())
            for client in clients:
                exchange(client)  # the others never noticed
            for client in clients:
                client.close()
            self.assertEqual(server.stop(), 0, server.log())
            self.assertRegex(server.log(), r"stopped: connections=8 requests=8")
            self.assertEqual(server.thread_warnings(), [], server.log())
        finally:
            for client in clients:
                client.close()
            server.kill()


class ThreadAffinity(unittest.TestCase):
    """Many clients come and go, some are open at SIGTERM: the log must hold
    no Qt warning (a socket or timer used from a thread it does not belong
    to, an object deleted on the wrong thread)."""

    def test_no_qt_warnings_through_a_busy_life_and_a_shutdown(self) -> None:
        server = Server([SERVER, "--port", "0", "--idle-timeout-ms", "5000",
                         "--shutdown-grace-ms", "300"]
                        + (["--threads", "8"] if "pool" in SERVER else []))
        try:
            for _ in range(3):
                clients = [Client(server.host, server.port) for _ in range(6)]
                for client in clients:
                    self.assertEqual(client.read(1), b"*")
                    exchange(client)
                for client in clients[:4]:
                    client.close()
            server.wait_for_line(r"closing .*client closed", timeout=5)
            self.assertEqual(server.stop(), 0, server.log())
            self.assertRegex(server.log(), r"stopped: connections=18 requests=18")
            self.assertEqual(server.thread_warnings(), [], server.log())
        finally:
            server.kill()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_qt_servers.py SERVER [TestCase.test_name ...]")
    SERVER = sys.argv.pop(1)
    unittest.main()
