#!/usr/bin/env python3
"""Failure handling of qt-client: a host that does not resolve, a refused
connection, a server that never answers, and a server that restarts.

    python3 test_qt_client.py PATH/TO/qt-client [TestCase.test_name ...]

The servers here are a few lines of Python, so each test controls exactly
what the client meets. Every wait has a deadline.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import unittest
from typing import List, Tuple

from qt_testing import TIMEOUT

CLIENT = ""  # set from the command line


def run_client(*args: str) -> Tuple[int, dict, str]:
    """Runs qt-client; returns (exit status, its JSON totals, its stderr)."""
    done = subprocess.run([CLIENT, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          universal_newlines=True, timeout=3 * TIMEOUT)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, "expected one JSON line on stdout, got %r" % done.stdout
    return done.returncode, json.loads(lines[0]), done.stderr


def listener() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def read_exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return data
        data += chunk
    return data


def serve_framed(conn: socket.socket, limit: int) -> int:
    """Answers up to `limit` framed requests; returns how many it answered."""
    conn.settimeout(TIMEOUT)
    answered = 0
    while answered < limit:
        header = read_exactly(conn, 4)
        if len(header) < 4:
            break
        body = read_exactly(conn, int.from_bytes(header, "big"))
        conn.sendall(header + bytes((b + 1) % 256 for b in body))
        answered += 1
    return answered


class LookupFailure(unittest.TestCase):
    def test_a_name_that_does_not_resolve_is_reported_as_such(self) -> None:
        # .invalid never resolves (RFC 6761).
        status, totals, log = run_client("9", "--host", "no-such-host.invalid",
                                         "--requests", "1", "--reconnect", "0",
                                         "--connect-timeout-ms", "8000")
        self.assertEqual(status, 1)
        self.assertEqual((totals["requests"], totals["errors"]), (0, 1))
        self.assertIn("host lookup failed for no-such-host.invalid", log)


class Refused(unittest.TestCase):
    def test_a_refused_connection_is_retried_then_given_up(self) -> None:
        # Bound but not listening: the port is ours, and a SYN to it is refused.
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        try:
            status, totals, log = run_client(str(port), "--requests", "1", "--reconnect", "2")
        finally:
            holder.close()
        self.assertEqual(status, 1)
        self.assertEqual((totals["requests"], totals["errors"]), (0, 3))
        self.assertEqual(len(re.findall(r"connection refused", log)), 3, log)
        self.assertIn("giving up after 3 failures in a row", log)


class SilentServer(unittest.TestCase):
    """Accepts and never says a word: the request timeout must end the wait."""

    def run_against_silence(self, protocol: str) -> str:
        server = listener()
        accepted: List[socket.socket] = []
        thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
        thread.start()
        try:
            status, totals, log = run_client(str(server.getsockname()[1]), "--protocol", protocol,
                                             "--requests", "1", "--reconnect", "0",
                                             "--request-timeout-ms", "300")
        finally:
            thread.join(TIMEOUT)
            for conn in accepted:
                conn.close()
            server.close()
        self.assertEqual(status, 1)
        self.assertEqual((totals["requests"], totals["errors"]), (0, 1))
        return log

    def test_framed_no_reply_times_out(self) -> None:
        self.assertIn("no complete reply within 300 ms", self.run_against_silence("framed"))

    def test_shift_no_greeting_times_out(self) -> None:
        self.assertIn("no greeting within 300 ms", self.run_against_silence("shift"))


class Restart(unittest.TestCase):
    """The server answers 5 requests, then closes the connection and its
    listener (it went down), then listens again on the same port (it came
    back). The client must reconnect and finish all its requests."""

    def test_the_client_reconnects_after_a_server_restart(self) -> None:
        first = listener()
        port = first.getsockname()[1]
        answered: List[int] = []

        def server() -> None:
            conn, _ = first.accept()
            answered.append(serve_framed(conn, 5))
            conn.close()
            first.close()                       # down: new connections are refused
            second = socket.socket()            # back up on the same port
            second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            second.bind(("127.0.0.1", port))
            second.listen(8)
            second.settimeout(TIMEOUT)
            conn, _ = second.accept()
            answered.append(serve_framed(conn, 1000))
            conn.close()
            second.close()

        thread = threading.Thread(target=server, daemon=True)
        thread.start()
        status, totals, log = run_client(str(port), "--protocol", "framed", "--requests", "20",
                                         "--reconnect", "5")
        thread.join(TIMEOUT)
        self.assertEqual(status, 1, "a lost connection is an error, even when recovered")
        self.assertEqual(totals["requests"], 20, log)
        self.assertGreaterEqual(totals["errors"], 1)
        self.assertIn("reconnecting in", log)
        self.assertEqual(answered, [5, 15], "the request lost with the first connection "
                         "must be sent again, and nothing counted twice")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_qt_client.py qt-client [TestCase.test_name ...]")
    CLIENT = sys.argv.pop(1)
    unittest.main()
