#!/usr/bin/env python3
"""Behaviour tests of asio-server and asio-server-coro that the conformance
suite cannot see: what the idle and request timeouts measure, the memory a
client that never reads can make a server hold, and the accept warning
while descriptors are used up.

    python3 test_asio_servers.py PATH/TO/asio-server [TestCase.test_name ...]

What the server does is proved by events: bytes and EOF on a socket, and
the server's log lines (it logs "closing PEER: WHY" before it closes, so
the line is there once the client has seen EOF). A few checks are about
something *not* happening (a close, a repeated warning, memory growth);
absence can only be observed over a window, and the windows here are
several times the gaps a correct server must tolerate. Every wait has a
deadline.
"""
from __future__ import annotations

import os
import re
import resource
import select
import socket
import struct
import sys
import time
import unittest
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))
from sim_net import Client  # noqa: E402  (the simulator's client: every wait has a timeout)
from sim_server import ServerProcess, sanitizer_report  # noqa: E402

SERVER = ""  # set from the command line
TIMEOUT = 20.0  # seconds: the longest any expected event may take (sanitizer builds are slow)
ABSENCE_WINDOW = 0.5  # seconds without progress that mean a sender is blocked for good


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def reply_to(payload: bytes) -> bytes:
    return frame(bytes((b + 1) % 256 for b in payload))


def peer_name(client: Client) -> str:
    """How the server's log names this client: 127.0.0.1:PORT."""
    return "%s:%d" % client.sock.getsockname()[:2]


class Server(ServerProcess):
    """The server under test on port 0, with its log and process id."""

    def __init__(self, protocol: str, *args: str) -> None:
        super().__init__([SERVER, "--port", "0", "--protocol", protocol, "--threads", "2", *args])

    def count_lines(self, pattern: str) -> int:
        return self.count_log_lines(pattern)

    def wait_for_line(self, pattern: str, timeout: float = TIMEOUT) -> bool:
        """Whether a log line matching `pattern` appears within `timeout` s."""
        return self.wait_for_log(pattern, timeout) is not None

    def rss_bytes(self) -> int:
        """The server's resident memory now (VmRSS)."""
        status = Path("/proc/%d/status" % self.pid).read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024


class ServerTestCase(unittest.TestCase):
    """Starts a server per test; at the end requires a clean exit on SIGTERM
    and no sanitizer report in its log."""

    protocol = "framed"
    server_args: List[str] = []

    def setUp(self) -> None:
        self.server = Server(self.protocol, *self.server_args)
        self.server.start()
        self.clients: List[Client] = []
        self.addCleanup(self._cleanup)

    def _cleanup(self) -> None:
        for client in self.clients:
            client.close()
        status = self.server.stop(TIMEOUT)
        log = self.server.log()
        self.server.close()
        self.assertEqual(status, 0, "exit status on SIGTERM; the server's log:\n" + log)
        self.assertIsNone(sanitizer_report(log), "sanitizer report in the log:\n" + log)

    def connect(self) -> Client:
        address = (self.server.host, self.server.port)
        client = Client(address, "client %d" % len(self.clients), TIMEOUT).connect()
        self.clients.append(client)
        if self.protocol == "shift":
            client.expect(b"*", "the greeting")
        return client

    def require_line(self, pattern: str) -> None:
        self.assertTrue(self.server.wait_for_line(pattern),
                        "no log line matches %r:\n%s" % (pattern, self.server.log()))

    def assert_not_closed(self, client: Client) -> None:
        self.assertEqual(self.server.count_lines("closing %s" % re.escape(peer_name(client))), 0,
                         "the server closed the client:\n" + self.server.log())


class IdleTimeout(ServerTestCase):
    """--idle-timeout-ms counts from the last byte received or sent, not
    from the last whole header, body or reply."""

    IDLE_MS = 1000
    server_args = ["--idle-timeout-ms", str(IDLE_MS)]

    def test_a_frame_trickled_in_pieces_is_not_idle(self) -> None:
        # A 100 KB frame in 10 KB pieces, one every quarter of the timeout:
        # 2.5 timeouts in all, but never a quarter of one without a byte.
        payload = bytes(range(256)) * 400
        data = frame(payload)
        client = self.connect()
        pieces = [data[i:i + 10_000] for i in range(0, len(data), 10_000)]
        for index, piece in enumerate(pieces):
            if index > 0:
                time.sleep(self.IDLE_MS / 4000)
            client.send(piece, "piece %d of the frame" % index)
        client.expect(reply_to(payload), "the reply to the trickled frame")
        self.assert_not_closed(client)


class SlowReader(ServerTestCase):
    """The idle clock restarts on every byte sent, too, not only when a
    whole reply is out. The timeout is longer than IdleTimeout's: reading a
    12 MiB frame and building its reply takes the server seconds under
    ThreadSanitizer on a busy machine, and that time counts as idle."""

    IDLE_MS = 8000
    server_args = ["--idle-timeout-ms", str(IDLE_MS), "--max-frame", str(16 << 20)]

    def test_a_client_reading_a_large_reply_slowly_is_not_idle(self) -> None:
        # A 12 MiB reply, three times what the kernel's buffers hold between
        # the two sides (about 4 MiB on Linux loopback). The client reads at
        # about 0.5 MiB/s for 1.25 timeouts: meanwhile the server's write of
        # the reply is under way, moving each time the client has made
        # enough room (the kernel wakes a writer when a third of its send
        # buffer is free: about every 2.6 s here). Then the client reads the
        # rest at full speed (once the write is over, the server has nothing
        # left to send, and the kernel's buffers must not take a timeout to
        # drain).
        payload = bytes(range(256)) * (48 << 10)
        expected = reply_to(payload)
        client = self.connect()
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        writer = client.send_in_background(frame(payload))
        received = bytearray()
        slow_until: Optional[float] = None  # set when the first byte arrives
        while len(received) < len(expected):
            chunk = client.sock.recv(min(len(expected) - len(received), 64 * 1024))
            self.assertTrue(chunk, "EOF after %d of %d bytes:\n%s"
                            % (len(received), len(expected), self.server.log()))
            received += chunk
            if slow_until is None:
                slow_until = time.monotonic() + 1.25 * self.IDLE_MS / 1000
            if time.monotonic() < slow_until:
                time.sleep(len(chunk) / (512 * 1024))
        self.assert_not_closed(client)
        writer.finish()
        self.assertTrue(received == expected, "the reply differs from the request plus one")


class RequestTimeout(ServerTestCase):
    """--request-timeout-ms: once a request's first byte has arrived, the
    whole request must arrive within the limit, however steadily it
    trickles; between requests there is no limit."""

    LIMIT_MS = 1000
    GAP = 0.1  # seconds between trickled bytes: the idle timeout never fires
    server_args = ["--request-timeout-ms", str(LIMIT_MS), "--idle-timeout-ms", "60000"]

    def trickle_until_closed(self, client: Client, first: bytes) -> float:
        """Sends `first`, then one byte (a "0") every GAP, never completing
        the request, until the server closes the connection; returns the
        seconds from `first` to the close. Replies (the shift protocol
        answers each byte of a message as it arrives) are read and dropped."""
        client.send(first)
        started = time.monotonic()
        while True:
            self.assertLess(time.monotonic() - started, TIMEOUT,
                            "never closed:\n" + self.server.log())
            if client.has_data(wait=self.GAP):
                try:
                    if not client.sock.recv(4096):
                        break
                except ConnectionResetError:
                    break
            else:
                client.send(b"0")
        return time.monotonic() - started

    def check_closed_on_time(self, client: Client, elapsed: float) -> None:
        self.assertGreaterEqual(elapsed, self.LIMIT_MS / 1000, "closed before the limit")
        self.require_line(r"closing %s: request not complete after %d ms$"
                          % (re.escape(peer_name(client)), self.LIMIT_MS))

    def requests_in_pieces(self, requests: List[bytes], replies: List[bytes]) -> None:
        """Waits a whole limit without a byte (no request under way, so no
        deadline), then sends each request in five pieces over half the
        limit (all of them together take twice the limit): every reply
        comes, and the connection stays open."""
        client = self.connect()
        self.assertFalse(client.has_data(wait=1.5 * self.LIMIT_MS / 1000),
                         "closed with no request under way:\n" + self.server.log())
        for request, reply in zip(requests, replies):
            step = -(-len(request) // 5)
            for offset in range(0, len(request), step):
                client.send(request[offset:offset + step])
                time.sleep(self.LIMIT_MS / 10000)
            client.expect(reply, "the reply")
        self.assert_not_closed(client)


class RequestTimeoutFramed(RequestTimeout):
    protocol = "framed"

    def test_a_frame_that_never_completes_is_closed_at_the_limit(self) -> None:
        client = self.connect()
        # Three bytes of a header first: the frame's clock starts with its
        # first byte. The fourth makes the length 4096 ("0" is 0x30).
        elapsed = self.trickle_until_closed(client, b"\x00\x00\x10")
        self.check_closed_on_time(client, elapsed)

    def test_frames_that_each_complete_in_time_are_served(self) -> None:
        payloads = [b"frame %d " % i + bytes(40) for i in range(4)]
        self.requests_in_pieces([frame(p) for p in payloads], [reply_to(p) for p in payloads])


class RequestTimeoutShift(RequestTimeout):
    protocol = "shift"

    def test_a_message_that_never_ends_is_closed_at_the_limit(self) -> None:
        client = self.connect()
        elapsed = self.trickle_until_closed(client, b"^")
        self.check_closed_on_time(client, elapsed)

    def test_messages_that_each_complete_in_time_are_served(self) -> None:
        messages = [b"message %d" % i for i in range(4)]
        self.requests_in_pieces([b"^" + m + b"$" for m in messages],
                                [bytes(b + 1 for b in m) for m in messages])


class BoundedMemory(ServerTestCase):
    """A client that sends without reading makes the server hold a bounded
    amount of memory: the server stops reading it (its sends then block)
    while its unsent replies are over the servers' limit (1 MiB)."""

    # Far above what a bounded server holds (its queued replies, one frame,
    # and, under the sanitizers, their bookkeeping), far below what the
    # stream would cost a server that read it all.
    GROWTH_LIMIT = 48 << 20
    # What the client offers at most: more than the kernel's buffers between
    # the two sides (a few MiB each way, up to tcp_rmem's maximum for the
    # server's receive buffer) plus GROWTH_LIMIT.
    STREAM = 256 << 20
    server_args = ["--idle-timeout-ms", "0"]

    def send_without_reading(self, head: bytes, unit: bytes) -> None:
        """Connects with small socket buffers, then sends `head` and `unit`
        over and over, never reading, until no byte goes out for
        ABSENCE_WINDOW. Fails if the server's memory grows by GROWTH_LIMIT
        on the way, or if it takes STREAM bytes."""
        sock = socket.socket(socket.AF_INET)
        self.addCleanup(sock.close)
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            # Before connect, so the client's window is small from the start.
            sock.setsockopt(socket.SOL_SOCKET, option, 64 * 1024)
        sock.settimeout(TIMEOUT)
        sock.connect((self.server.host, self.server.port))
        if self.protocol == "shift":
            self.assertEqual(sock.recv(1), b"*")
        baseline = self.server.rss_bytes()
        sock.sendall(head)
        sock.setblocking(False)
        units = memoryview(unit)
        sent = 0
        while True:
            growth = self.server.rss_bytes() - baseline
            self.assertLess(growth, self.GROWTH_LIMIT,
                            "the server grew by %d MiB after reading %d MiB from a client that "
                            "does not read" % (growth >> 20, sent >> 20))
            self.assertLess(sent, self.STREAM, "the server took the whole stream into memory")
            try:
                sent += sock.send(units[sent % len(unit):])
            except BlockingIOError:
                _, writable, _ = select.select([], [sock], [], ABSENCE_WINDOW)
                if not writable:
                    break  # the server has stopped reading
        # The server is not stuck on this client: another one is served.
        other = self.connect()
        request, reply = ((b"^still here$", b"tujmm!ifsf") if self.protocol == "shift"
                          else (frame(b"still here"), reply_to(b"still here")))
        other.send(request)
        other.expect(reply, "the reply to another client")
        self.assertLess(self.server.rss_bytes() - baseline, self.GROWTH_LIMIT)


class BoundedMemoryShift(BoundedMemory):
    protocol = "shift"

    def test_a_huge_message_unread_is_not_buffered_without_bound(self) -> None:
        # One message that never ends: its reply streams out as it arrives.
        self.send_without_reading(b"^", b"a" * (1 << 20))


class BoundedMemoryFramed(BoundedMemory):
    protocol = "framed"
    MAX_FRAME = 1 << 20
    server_args = BoundedMemory.server_args + ["--max-frame", str(MAX_FRAME)]

    def test_max_size_frames_unread_are_not_buffered_without_bound(self) -> None:
        self.send_without_reading(b"", frame(bytes(range(256)) * (self.MAX_FRAME // 256)))


class AcceptWarning(ServerTestCase):
    """Out of descriptors, the server retries accept with a back-off and
    says so once, not once per retry (cs::log_warn_limited)."""

    protocol = "shift"

    def setUp(self) -> None:
        # With no descriptor free, UBSan cannot run its check of virtual
        # calls (it probes memory through a pipe) and reports every object it
        # has not met before as bad, so this case runs only in builds
        # without UBSan (the debug and TSan builds).
        if b"__ubsan_handle" in Path(SERVER).read_bytes():
            self.skipTest("UBSan cannot work with no descriptors free")
        super().setUp()

    def test_out_of_descriptors_the_warning_is_not_repeated_at_each_retry(self) -> None:
        # A first client is served, then the server's descriptor limit is
        # lowered to what it has open, so accepting the next fails (EMFILE).
        first = self.connect()
        first.send(b"^hi$")
        first.expect(b"ij", "the reply")
        in_use = len(os.listdir("/proc/%d/fd" % self.server.pid))
        _, hard = resource.prlimit(self.server.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(self.server.pid, resource.RLIMIT_NOFILE, (in_use, hard))
        address = (self.server.host, self.server.port)
        second = Client(address, "second", TIMEOUT).connect()  # in the backlog
        self.clients.append(second)
        warning = r"warn: accept: Too many open files; retrying in \d+ ms"
        self.require_line(warning)
        # Over two seconds the back-off (10 ms doubling to 1 s) retries
        # seven times or so; the warning says so once.
        time.sleep(2.0)
        self.assertEqual(self.server.count_lines(warning), 1,
                         "the warning repeats:\n" + self.server.log())
        # A descriptor frees up: the waiting client is accepted and served.
        first.close()
        second.expect(b"*", "the greeting, once a descriptor is free")
        second.send(b"^abc$")
        second.expect(b"bcd", "the reply")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    SERVER = os.path.abspath(sys.argv.pop(1))
    unittest.main()
