#!/usr/bin/env python3
"""Behaviour tests of part 4's servers beyond the
conformance suite: what the lingering close is for, a flood without a line
end, packets cut at every kind of boundary, and --request-timeout-ms.

    python3 test_part4_servers.py PATH/TO/SERVER [TestCase.test_name ...]

The server is started on port 0 and read back from its "listening on" line.
Every read has a deadline; nothing sleeps and hopes.
"""
from __future__ import annotations

import os
import random
import re
import socket
import sys
import time
import unittest
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "simulator"))
from sim_server import ServerProcess  # noqa: E402  (the repository's one launcher)

SERVER = ""  # set from the command line
TIMEOUT = 10.0  # seconds: the longest any expected event may take


class Server(ServerProcess):
    """A part 4 server on port 0, speaking `protocol` (sim_server.ServerProcess,
    which also runs a Windows build under wine and stops it with SIGINT)."""

    def __init__(self, protocol: str, *args: str) -> None:
        under_wine = SERVER.endswith(".exe") and os.name != "nt"
        argv = (["wine"] if under_wine else []) + [SERVER]
        super().__init__([*argv, "--port", "0", "--protocol", protocol, *args], TIMEOUT)
        self.start_in_test()

    def wait_for_text(self, text: str) -> str:
        """The first log line containing `text`, waiting at most TIMEOUT."""
        match = self.wait_for_log(re.escape(text), TIMEOUT)
        if match is None:
            raise AssertionError("no log line with %r within %.0f s; the log:\n%s"
                                 % (text, TIMEOUT, self.log()))
        return match.string

    def trickle_until_log(self, client: socket.socket, byte: bytes, text: str) -> None:
        """Sends `byte` every 50 ms (never idle, never completing a request)
        until a log line contains `text`; fails after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.wait_for_log(re.escape(text), 0) is not None:
                return
            client.sendall(byte)
            time.sleep(0.05)  # the trickle's pace, not a wait for an event
        raise AssertionError("no log line with %r within %.0f s; the log:\n%s"
                             % (text, TIMEOUT, self.log()))

    def connect(self) -> socket.socket:
        client = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return client


def read_to_eof(client: socket.socket) -> bytes:
    """Everything the server sends until it closes; raises on a reset."""
    received = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            return received
        received += chunk


def read_exactly(client: socket.socket, n: int) -> bytes:
    received = b""
    while len(received) < n:
        chunk = client.recv(n - len(received))
        if not chunk:
            raise AssertionError("the server closed after %r, expected %d bytes" % (received, n))
        received += chunk
    return received


class ServerTest(unittest.TestCase):
    PROTOCOL = ""
    ARGS: List[str] = []

    def setUp(self) -> None:
        self.server = Server(self.PROTOCOL, *self.ARGS)

    def tearDown(self) -> None:
        try:
            status = self.server.stop(TIMEOUT)
        finally:
            self.server.close()
        self.assertEqual(status, 0, "the server must exit 0 on SIGTERM; its log:\n"
                         + self.server.log())


class LineServer(ServerTest):
    PROTOCOL = "line"
    ARGS = ["--max-line", "64"]

    def test_bye_arrives_intact_although_the_client_sent_more_after_quit(self):
        # Closing a socket that still has unread bytes sends a reset, which
        # makes the client's kernel drop replies it has not read yet. The
        # lingering close (shutdown_send, drain, close) prevents exactly
        # that: the client reads every reply, then a clean EOF.
        with self.server.connect() as client:
            junk = b"ECHO never answered\r\n" * 5000  # about 100 KB the server never reads as commands
            client.sendall(b"ECHO a\r\nQUIT\r\n" + junk)
            self.assertEqual(read_exactly(client, len(b"+OK ready\r\n+OK a\r\n+OK bye\r\n")),
                             b"+OK ready\r\n+OK a\r\n+OK bye\r\n")
            client.shutdown(socket.SHUT_WR)
            self.assertEqual(read_to_eof(client), b"", "EOF after the goodbye, nothing else")

    def test_a_flood_without_a_line_end_is_refused_and_the_server_lives_on(self):
        with self.server.connect() as flood:
            self.assertEqual(read_exactly(flood, 11), b"+OK ready\r\n")
            try:
                flood.sendall(b"x" * 1_000_000)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may give up on the drain first: the reply is what matters
            self.assertEqual(read_exactly(flood, 20), b"-ERR line too long\r\n")
        with self.server.connect() as other:
            other.sendall(b"NOOP\r\n")
            self.assertEqual(read_exactly(other, 16), b"+OK ready\r\n+OK\r\n")


class LingeringLineServer(ServerTest):
    PROTOCOL = "line"
    ARGS = ["--idle-timeout-ms", "300"]

    def test_a_client_that_never_closes_after_the_goodbye_times_out(self):
        # After QUIT the server shuts down its sending side and waits for the
        # client's EOF (the lingering close). A client that never sends it
        # must not hold the connection for ever: the idle timeout ends it.
        with self.server.connect() as client:
            client.sendall(b"QUIT\r\n")
            self.assertEqual(read_to_eof(client), b"+OK ready\r\n+OK bye\r\n")
            # The client keeps its side open and says nothing more: only the
            # idle timeout can end the lingering close now.
            self.server.wait_for_text("no EOF after goodbye")


class TimedLineServer(ServerTest):
    PROTOCOL = "line"
    ARGS = ["--request-timeout-ms", "300", "--idle-timeout-ms", "10000"]

    def test_a_trickled_line_is_closed_at_its_deadline(self):
        # Each byte restarts the idle clock; only the request deadline can
        # end a line that is begun and never finished.
        with self.server.connect() as client:
            client.sendall(b"NOOP\r\nECHO slow")
            self.assertEqual(read_exactly(client, 16), b"+OK ready\r\n+OK\r\n")
            self.server.trickle_until_log(client, b"x", "request not complete after 300 ms")
            client.shutdown(socket.SHUT_WR)  # the lingering close now ends
            self.assertEqual(read_to_eof(client), b"", "nothing for the unfinished line")


class TimedCompletionServer(ServerTest):
    PROTOCOL = "shift"
    ARGS = ["--request-timeout-ms", "300", "--idle-timeout-ms", "10000"]

    def test_a_trickled_message_is_closed_at_its_deadline(self):
        with self.server.connect() as client:
            client.sendall(b"^ab$^c")  # one message answered, the next begun
            self.assertEqual(read_exactly(client, 4), b"*bcd")
            self.server.trickle_until_log(client, b"x", "request not complete after 300 ms")
            try:
                read_to_eof(client)  # the replies to the trickled bytes, then the close
            except ConnectionResetError:
                pass  # a byte of the trickle that arrived after the close makes it a reset


class PacketEchoServer(ServerTest):
    PROTOCOL = "packet"

    def test_packets_cut_anywhere_come_back_whole_and_in_order(self):
        rng = random.Random(2026)
        stream = b"".join(bytes([n]) + bytes(rng.randrange(256) for _ in range(n - 1))
                          for n in [rng.randrange(2, 256) for _ in range(300)])
        with self.server.connect() as client:
            position = 0
            while position < len(stream):  # chunks from 1 byte to several packets
                size = rng.choice([1, 2, 3, 100, 255, 256, 1000, 5000])
                client.sendall(stream[position:position + size])
                position += size
            self.assertEqual(read_exactly(client, len(stream)), stream)
            client.shutdown(socket.SHUT_WR)
            self.assertEqual(read_to_eof(client), b"")

    def test_a_bad_header_closes_after_the_earlier_echoes(self):
        with self.server.connect() as client:
            client.sendall(b"\x03ab\x02z\x00\x05more")
            self.assertEqual(read_to_eof(client), b"\x03ab\x02z")

    def test_an_incomplete_packet_at_eof_is_dropped(self):
        with self.server.connect() as client:
            client.sendall(b"\x03ab\x09part")
            client.shutdown(socket.SHUT_WR)
            self.assertEqual(read_to_eof(client), b"\x03ab")


class TimedPacketEchoServer(ServerTest):
    PROTOCOL = "packet"
    ARGS = ["--request-timeout-ms", "300", "--idle-timeout-ms", "10000"]

    def test_a_trickled_packet_is_closed_at_its_deadline(self):
        with self.server.connect() as client:
            client.sendall(b"\x03ab\xff")  # one whole packet, then a 255-byte one begun
            self.assertEqual(read_exactly(client, 3), b"\x03ab")
            self.server.trickle_until_log(client, b"x", "request not complete after 300 ms")
            try:
                self.assertEqual(read_to_eof(client), b"", "no echo of the unfinished packet")
            except ConnectionResetError:
                pass  # a byte of the trickle that arrived after the close makes it a reset


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: test_part4_servers.py PATH/TO/SERVER [TestCase.test_name ...]")
    SERVER = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
