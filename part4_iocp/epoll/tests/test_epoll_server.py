#!/usr/bin/env python3
"""Behaviour tests of epoll-server that the conformance suite cannot see:
backpressure on a client that does not read, idle timeouts, shutdown with
replies still queued, resets, running out of descriptors, --max-clients,
--request-timeout-ms against a client that trickles its request.

    python3 test_epoll_server.py PATH/TO/epoll-server [TestCase.test_name ...]

What the server does is proved by events: bytes arriving on a socket, EOF,
and the server's own log lines (read from its stderr as they are written),
such as "pausing reads from 127.0.0.1:40000". A few checks are about
something *not* happening (a sender that stays blocked, a client not yet
accepted); absence can only be observed over a window, so they watch for a
short while (ABSENCE_WINDOW). A correct server passes them however slow the
machine; the window only decides how surely a broken one is caught. Every
wait has a deadline.
"""
from __future__ import annotations

import os
import re
import resource
import select
import socket
import struct
import sys
import threading
import time
import unittest
from pathlib import Path
from typing import Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "simulator"))
from sim_server import OneServerPerTest, ServerProcess  # noqa: E402  (the repository's one launcher)

SERVER = ""  # set from the command line
TIMEOUT = 10.0  # seconds: the longest any expected event may take
ABSENCE_WINDOW = 0.5  # seconds to watch for something that must not happen
EXIT_MARGIN = 5.0  # seconds allowed past a grace period for the exit

# Backpressure tests: the server's --output-limit, and what a client that
# never reads pipelines at it. Before the server's own buffer fills, the
# kernel buffers both streams in four socket buffers, which Linux grows to
# several MiB each on loopback. The tests fix them small (KERNEL_BUFFERS:
# the client's with setsockopt, the server's with --send-buffer; the
# server's receive buffer stays small because a paused server does not
# read), so that a pause comes after a few hundred KiB, which keeps the
# tests quick under the sanitizers. PIPELINED_FRAMES is well beyond that.
OUTPUT_LIMIT = 64 * 1024
KERNEL_BUFFERS = 64 * 1024
BACKPRESSURE_ARGS = ["--protocol", "framed", "--output-limit", str(OUTPUT_LIMIT),
                     "--send-buffer", str(KERNEL_BUFFERS)]
FRAME_PAYLOAD = bytes(range(256)) * 256  # 64 KiB per request frame
PIPELINED_FRAMES = 64  # 4 MiB in all
RECEIVE_CHUNK = 64 * 1024  # the server's receive buffer (epoll_server.cpp)


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reply_to(payload: bytes) -> bytes:
    return frame(bytes((b + 1) % 256 for b in payload))


REQUEST = frame(FRAME_PAYLOAD)
REPLY = reply_to(FRAME_PAYLOAD)


class Server(ServerProcess):
    """epoll-server on port 0 (sim_server.ServerProcess), with its log."""

    def __init__(self, *args: str) -> None:
        super().__init__([SERVER, "--port", "0", *args], TIMEOUT)
        self.start_in_test()

    def wait_for_line(self, pattern: str, timeout: float = TIMEOUT) -> Optional[re.Match]:
        """The first log line matching `pattern`, waiting for it to be
        written; None if it was not within `timeout`."""
        return self.wait_for_log(pattern, timeout)

    def count_lines(self, pattern: str) -> int:
        return self.count_log_lines(pattern)

    def wait_exit(self, timeout: float) -> Optional[int]:
        return self.wait(timeout)


class Client:
    """One TCP client; `who` is how the server's log names it."""

    def __init__(self, host: str, port: int, kernel_buffers: Optional[int] = None) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if kernel_buffers is not None:
            # Fixed and small, and set before connecting so the advertised
            # window is small from the start: less of the streams sits in
            # this client's kernel buffers (see KERNEL_BUFFERS).
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, kernel_buffers)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, kernel_buffers)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        self.who = re.escape("%s:%d" % self.sock.getsockname()[:2])
        self.sender: Optional[threading.Thread] = None
        self.send_error: Optional[BaseException] = None

    def expect(self, data: bytes) -> None:
        """Receive exactly `data` (each recv within TIMEOUT)."""
        received = bytearray()
        while len(received) < len(data):
            chunk = self.sock.recv(min(len(data) - len(received), 1 << 20))
            if not chunk:
                raise AssertionError("EOF after %d of %d bytes" % (len(received), len(data)))
            received += chunk
        if received != data:
            raise AssertionError("received %r..., expected %r..." % (bytes(received[:40]),
                                                                     data[:40]))

    def expect_eof(self) -> None:
        data = self.sock.recv(1)
        if data:
            raise AssertionError("expected EOF, received %r" % data)

    def send_in_background(self, data: bytes) -> None:
        """sendall(data) on a thread, which blocks for as long as the
        server does not read (that is the point)."""
        def send() -> None:
            try:
                self.sock.sendall(data)
            except BaseException as error:  # noqa: BLE001  (reported by the test)
                self.send_error = error
        self.sock.settimeout(None)  # a blocked sendall is expected, not a failure
        self.sender = threading.Thread(target=send, daemon=True)
        self.sender.start()

    def reset(self) -> None:
        """Close with RST instead of FIN (SO_LINGER on, zero seconds)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        try:  # wakes a sender thread blocked on this socket; close() alone would not
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # not connected (any more)
        self.sock.close()


class ServerTestCase(OneServerPerTest):
    """A server per test (sim_server.OneServerPerTest: at the end, its
    clients closed, the server stopped, its log free of sanitizer reports)."""

    server_class = Server
    finish_timeout = TIMEOUT

    def connect(self, protocol_greeting: bytes = b"", **options) -> Client:
        client = Client(self.server.host, self.server.port, **options)
        self.clients.append(client)
        if protocol_greeting:
            client.expect(protocol_greeting)
        return client

    def require_line(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        match = self.server.wait_for_line(pattern, timeout)
        self.assertIsNotNone(match, "no log line matches %r:\n%s" % (pattern, self.server.log()))
        return match

    def pipeline_until_paused(self) -> Tuple[Client, memoryview]:
        """A framed client that sends PIPELINED_FRAMES requests without
        reading a byte, until the server pauses its reads. Returns the client
        and the part of the stream it has not sent yet."""
        client = self.connect(kernel_buffers=KERNEL_BUFFERS)
        stream = memoryview(REQUEST * PIPELINED_FRAMES)
        paused = r"pausing reads from %s: (\d+) bytes unsent \(limit %d\)" % (client.who,
                                                                              OUTPUT_LIMIT)
        deadline = time.monotonic() + TIMEOUT
        client.sock.setblocking(False)
        while True:
            match = self.server.wait_for_line(paused, timeout=0)
            if match:
                break
            self.assertTrue(stream, "the server read the whole stream without pausing:\n"
                            + self.server.log())
            self.assertLess(time.monotonic(), deadline, "no pause:\n" + self.server.log())
            try:
                stream = stream[client.sock.send(stream[:RECEIVE_CHUNK]):]
            except BlockingIOError:  # the kernel's buffers are full: wait for room
                select.select([], [client.sock], [], 0.05)
        # It paused because the limit was passed, by at most one chunk's replies.
        unsent = int(match.group(1))
        self.assertGreater(unsent, OUTPUT_LIMIT)
        self.assertLessEqual(unsent, OUTPUT_LIMIT + RECEIVE_CHUNK)
        # Paused means not read. The client goes on sending until the kernel's
        # buffers between it and the server are full, and then its socket
        # must stay unwritable. A server that went on reading would take the
        # whole stream into its own memory, and the stream would run out.
        while True:
            self.assertTrue(stream, "the server went on reading a client that never reads:\n"
                            + self.server.log())
            try:
                stream = stream[client.sock.send(stream[:RECEIVE_CHUNK]):]
            except BlockingIOError:
                _, writable, _ = select.select([], [client.sock], [], ABSENCE_WINDOW)
                if not writable:
                    break
        client.sock.settimeout(TIMEOUT)
        return client, stream

    def exchange(self, client: Client, request: bytes, reply: bytes) -> None:
        client.sock.sendall(request)
        try:
            client.expect(reply)
        except (AssertionError, OSError) as error:
            raise AssertionError("%s; the server's log:\n%s" % (error, self.server.log()))

    def assert_still_served(self) -> None:
        """A fresh framed client gets its reply."""
        other = self.connect()
        other.sock.sendall(frame(b"still here"))
        other.expect(reply_to(b"still here"))


class Backpressure(ServerTestCase):
    server_args = BACKPRESSURE_ARGS

    def test_a_client_that_never_reads_is_paused_others_are_served_and_it_resumes(self) -> None:
        hog, rest = self.pipeline_until_paused()
        # The loop is not stuck on the hog: another client is served now.
        self.assert_still_served()

        # The hog reads at last: every reply arrives, in order, as the server
        # resumes reading and answers the rest of the stream.
        hog.send_in_background(rest)
        for _ in range(PIPELINED_FRAMES):
            hog.expect(REPLY)
        hog.sender.join(TIMEOUT)
        self.assertFalse(hog.sender.is_alive())
        self.assertIsNone(hog.send_error)
        self.require_line(r"resuming reads from %s$" % hog.who)


class IdleTimeout(ServerTestCase):
    IDLE_MS = 1500
    server_args = ["--idle-timeout-ms", str(IDLE_MS)]

    def test_a_silent_client_is_closed_and_an_active_one_is_not(self) -> None:
        # The active client connects first, so a server that did not move it
        # behind the silent one on activity would find the silent one's
        # deadline only after the active one's (never, here).
        active = self.connect(b"*")
        silent = self.connect(b"*")
        started = time.monotonic()
        silent_closed = threading.Event()

        def wait_for_eof() -> None:
            silent.expect_eof()
            silent_closed.set()
        watcher = threading.Thread(target=wait_for_eof, daemon=True)
        watcher.start()
        # The active client sends a request every tenth of the timeout, for
        # one and a half timeouts and until the silent one has been closed.
        while (not silent_closed.is_set()
               or time.monotonic() - started < 1.5 * self.IDLE_MS / 1000):
            self.assertLess(time.monotonic() - started, TIMEOUT,
                            "the silent client was never closed")
            self.exchange(active, b"^ping$", b"qjoh")
            silent_closed.wait(self.IDLE_MS / 10000)
        self.require_line(r"closing %s: idle for %d ms$" % (silent.who, self.IDLE_MS))
        self.exchange(active, b"^ok$", b"pl")
        self.assertEqual(self.server.count_lines("closing %s" % active.who), 0, self.server.log())


class RequestTimeout(ServerTestCase):
    REQUEST_MS = 1200
    IDLE_MS = 400
    server_args = ["--request-timeout-ms", str(REQUEST_MS), "--idle-timeout-ms", str(IDLE_MS)]

    def test_a_trickled_request_is_closed_at_its_deadline_not_by_the_idle_timeout(self) -> None:
        # One byte every quarter of the idle timeout: never idle (the idle
        # clock restarts with every byte), but the request never ends.
        trickler = self.connect(b"*")
        steady = self.connect(b"*")
        started = time.monotonic()
        trickler.sock.sendall(b"^")
        closed_after = None
        while closed_after is None:
            self.assertLess(time.monotonic() - started, TIMEOUT, "the trickler was never closed")
            # A client with whole requests at the same pace is never cut off.
            self.exchange(steady, b"^ok$", b"pl")
            try:
                trickler.sock.sendall(b"a")
                trickler.expect(b"b")
            except (AssertionError, OSError):
                closed_after = time.monotonic() - started
                break
            time.sleep(self.IDLE_MS / 4000)
        self.require_line(r"closing %s: request not complete after %d ms$"
                          % (trickler.who, self.REQUEST_MS))
        self.assertGreaterEqual(closed_after, self.REQUEST_MS / 1000 - 0.05,
                                "closed before its request deadline:\n" + self.server.log())
        self.assertEqual(self.server.count_lines("closing %s: idle" % trickler.who), 0,
                         "a client sending bytes was called idle:\n" + self.server.log())
        self.exchange(steady, b"^still$", b"tujmm")
        self.assertEqual(self.server.count_lines("closing %s" % steady.who), 0, self.server.log())


class Shutdown(ServerTestCase):
    GRACE_MS = 2000
    server_args = BACKPRESSURE_ARGS + ["--shutdown-grace-ms", str(GRACE_MS)]

    def test_a_slow_reader_gets_its_queued_replies_within_the_grace_period(self) -> None:
        slow, unsent = self.pipeline_until_paused()
        never, _ = self.pipeline_until_paused()  # never reads at all
        stop_sent = time.monotonic()
        self.server.terminate()
        self.require_line(r"stopping: no new connections; 2 open")
        # After the stop the slow reader still gets a reply to every whole
        # request it sent: the server keeps sending, resumes reading its
        # requests (queued in the kernel), and answers them all.
        sent = len(REQUEST) * PIPELINED_FRAMES - len(unsent)
        for _ in range(sent // len(REQUEST)):
            slow.expect(REPLY)
        # Then both are closed at the grace deadline, and the server exits 0.
        slow.expect_eof()
        status = self.server.wait_exit(self.GRACE_MS / 1000 + EXIT_MARGIN)
        self.assertEqual(status, 0, self.server.log())
        self.assertGreaterEqual(time.monotonic() - stop_sent, self.GRACE_MS / 1000,
                                "ended before the grace period")
        self.require_line("closing %s: shutdown grace period over" % slow.who)
        self.require_line("closing %s: shutdown grace period over" % never.who)
        self.require_line(r"stopped: connections=2 ")


class Reset(ServerTestCase):
    server_args = BACKPRESSURE_ARGS

    def test_a_client_reset_with_replies_queued_harms_nobody(self) -> None:
        bystander = self.connect()
        bystander.sock.sendall(frame(b"before"))
        bystander.expect(reply_to(b"before"))
        resetter, _ = self.pipeline_until_paused()
        resetter.reset()
        # The reset closes that connection only, whichever way the server
        # hears of it (EPOLLERR/EPOLLHUP, or an error from send).
        self.require_line(r"closing %s: " % resetter.who)
        self.assertIsNone(self.server.process.poll(), "the server exited after a reset")
        bystander.sock.sendall(frame(b"after"))
        bystander.expect(reply_to(b"after"))
        self.assert_still_served()


class AcceptBackoff(ServerTestCase):
    def setUp(self) -> None:
        # With no descriptor free, UBSan cannot run its check of virtual
        # calls (it probes memory through a pipe) and reports every object it
        # has not met before as bad, so this one case runs only in builds
        # without UBSan (the debug and TSan builds).
        if b"__ubsan_handle" in Path(SERVER).read_bytes():
            self.skipTest("UBSan cannot work with no descriptors free")
        super().setUp()

    def test_out_of_descriptors_the_server_backs_off_then_serves_the_waiting_client(self) -> None:
        # The first client is served before the limit drops (which also lets
        # UBSan's type check, which needs a spare descriptor the first time
        # it meets a class, do its work). Then the server's descriptor limit
        # is lowered to what it has open, so accepting the next fails with
        # EMFILE.
        first = self.connect(b"*")
        first.sock.sendall(b"^hi$")
        first.expect(b"ij")
        pid = self.server.process.pid
        in_use = len(os.listdir("/proc/%d/fd" % pid))
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use, hard))
        second = self.connect()
        self.require_line(r"accept: Too many open files; retrying in \d+ ms")
        # Backing off, not spinning: over a window of many back-off periods
        # the server uses little CPU, and says so once, not once per retry
        # (the warning is rate-limited: cs::RepeatLimiter).
        cpu_before = cpu_seconds(pid)
        time.sleep(2.0)
        self.assertLess(cpu_seconds(pid) - cpu_before, 0.5,
                        "the server spins on EMFILE:\n" + self.server.log())
        warnings = self.server.count_lines(r"accept: Too many open files")
        self.assertEqual(warnings, 1, "the warning repeats:\n" + self.server.log())
        # A descriptor frees up: the waiting client is accepted and served.
        first.close()
        second.expect(b"*")
        second.sock.sendall(b"^abc$")
        second.expect(b"bcd")


class MaxClients(ServerTestCase):
    server_args = ["--max-clients", "1"]

    def test_a_client_over_the_limit_waits_in_the_backlog(self) -> None:
        first = self.connect(b"*")
        waiting = self.connect()
        self.assertIsNone(self.server.wait_for_line("accepted %s$" % waiting.who, ABSENCE_WINDOW),
                          "accepted a client over --max-clients:\n" + self.server.log())
        first.close()
        waiting.expect(b"*")
        self.require_line("closing %s: client closed" % first.who)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    SERVER = os.path.abspath(sys.argv.pop(1))
    unittest.main()
