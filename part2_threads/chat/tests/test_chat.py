#!/usr/bin/env python3
"""Integration tests of the chat room: chat-server, chat-client and
chat-stress run as processes, all on 127.0.0.1.

Nothing here sleeps and hopes. A server starts on port 0 and is ready when it
prints `listening on HOST:PORT`; a client is in the room once the server has
logged `joined: ADDRESS` for its address; every other wait is for a frame,
an EOF or a process exit, bounded by PATIENCE (generous, for sanitizer
builds on a busy machine; a correct server needs a fraction of it).

ctest runs each test on its own (see CMakeLists.txt), e.g.
  CHAT_BIN_DIR=build/chat-dev python3 part2_threads/chat/tests/test_chat.py \\
      StressTests.test_queue_many_senders_large_frames
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "simulator"))
from sim_server import ServerError, ServerProcess, sanitizer_report  # noqa: E402  (the repository's one launcher)

BIN_DIR = os.environ.get("CHAT_BIN_DIR", "")
SERVER = os.path.join(BIN_DIR, "chat-server")
CLIENT = os.path.join(BIN_DIR, "chat-client")
STRESS = os.path.join(BIN_DIR, "chat-stress")

PATIENCE = 60.0  # seconds; the longest any single wait may take
STRATEGIES = ("global-lock", "snapshot", "queue")
LARGE = 256 * 1024  # bytes: a "large" frame, far more than one send() takes


class Lines:
    """Collects the lines of a process's stream on a thread, so a test can
    wait for a line without blocking on the pipe (and the pipe never fills)."""

    def __init__(self, stream):
        self.lines = []
        self.closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def wait_for(self, pattern, timeout=PATIENCE):
        """The first match of `pattern` in any line so far or to come; fails
        the test, quoting the lines, if none comes within `timeout`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._changed:
            while True:
                for line in self.lines[checked:]:
                    match = regex.search(line)
                    if match:
                        return match
                checked = len(self.lines)
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise AssertionError("no line matching %r; got:\n%s"
                                         % (pattern, "\n".join(self.lines[-30:])))
                self._changed.wait(left)

    def text(self):
        self._thread.join(PATIENCE)
        with self._changed:
            return "\n".join(self.lines)


def assert_no_sanitizer_report(test, name, text):
    test.assertIsNone(sanitizer_report(text), "%s reported a sanitizer error:\n%s" % (name, text))


class ServerLog:
    """A server's log as sim_server.ServerProcess keeps it, waited for like
    Lines (a wait ends early, failing, once the server has exited)."""

    def __init__(self, server):
        self._server = server

    def wait_for(self, pattern, timeout=PATIENCE):
        match = self._server.wait_for_log(pattern, timeout)
        if match is None:
            raise AssertionError("no line matching %r; got:\n%s"
                                 % (pattern, "\n".join(self._server.log_lines()[-30:])))
        return match

    def text(self):
        return self._server.log()


class Server:
    """A chat-server on port 0 (started by sim_server.ServerProcess, the
    repository's one launcher); a context manager that stops (or kills) it."""

    def __init__(self, test, *args):
        self.test = test
        self._server = ServerProcess([SERVER, "--port", "0", *args], PATIENCE)
        try:
            _, self.port = self._server.start()
        except ServerError as error:
            self._server.close()
            raise AssertionError(str(error)) from None
        self.process = self._server.process
        self.log = ServerLog(self._server)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._server.close()

    def wait_joined(self, address):
        self.log.wait_for(r"joined: %s " % re.escape(address))

    def stop(self):
        """SIGTERM; returns (exit status, the stats of the summary line)."""
        try:
            status = self._server.stop(PATIENCE)
        except ServerError as error:
            raise AssertionError(str(error)) from None
        log = self.log.text()
        assert_no_sanitizer_report(self.test, "chat-server", log)
        match = re.search(r"stopped: connections=(\d+) messages_in=(\d+) "
                          r"messages_delivered=(\d+) clients_dropped=(\d+)", log)
        self.test.assertIsNotNone(match, "no summary line in:\n" + log)
        keys = ("connections", "messages_in", "messages_delivered", "clients_dropped")
        return status, dict(zip(keys, map(int, match.groups())))


class RawClient:
    """A chat client made of a bare socket, for exact control of the bytes."""

    def __init__(self, server, receive_buffer=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:  # before connecting, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(PATIENCE)
        self.sock.connect(("127.0.0.1", server.port))
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        server.wait_joined(self.address)

    def send_frame(self, payload):
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def _exactly(self, size):
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(min(size - len(data), 1 << 20))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def recv_frame(self):
        """The next frame's payload, or None at EOF."""
        header = self._exactly(4)
        if header is None:
            return None
        return self._exactly(struct.unpack(">I", header)[0])

    def closed_by_server(self):
        """Reads until EOF or a reset (True); False if still open after PATIENCE."""
        try:
            while self.sock.recv(1 << 20):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def leave_all(server, *clients):
    """Closes the clients and waits until the server has logged each one's
    departure. Tests stop the server only after this: under the snapshot
    strategy, a descriptor closed while some thread may still be sending to
    it is that strategy's second flaw (ThreadSanitizer reports it), and a
    shutdown closes every descriptor at once."""
    for client in clients:
        client.close()
    for client in clients:
        server.log.wait_for(r"closing %s: " % re.escape(client.address))


def run_stress(test, server, *args):
    """Runs chat-stress against `server`; returns (exit status, its JSON)."""
    result = subprocess.run([STRESS, "--port", str(server.port), *args],
                            capture_output=True, text=True, timeout=PATIENCE * 2)
    assert_no_sanitizer_report(test, "chat-stress", result.stderr)
    try:
        summary = json.loads(result.stdout)
    except ValueError:
        test.fail("chat-stress printed no JSON (status %d):\n%s\n%s"
                  % (result.returncode, result.stdout, result.stderr))
    return result.returncode, summary, result.stderr


class CommandLineTests(unittest.TestCase):
    def run_server(self, *args):
        return subprocess.run([SERVER, "--port", "0", *args], capture_output=True,
                              text=True, timeout=PATIENCE)

    def test_protocol_option_is_refused_with_the_reason(self):
        for value in ("framed", "shift"):
            result = self.run_server("--protocol", value)
            self.assertEqual(result.returncode, 2, result.stderr)
            self.assertIn("--protocol", result.stderr)
            self.assertIn("only the chat protocol", result.stderr)

    def test_unknown_strategy_is_refused(self):
        result = self.run_server("--broadcast", "fastest")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("--broadcast", result.stderr)

    def test_queue_too_small_for_one_frame_is_refused(self):
        result = self.run_server("--max-frame", "1000", "--queue-bytes", "1003")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("--queue-bytes", result.stderr)
        self.assertIn("1004", result.stderr)  # what it must be at least


class RoomTests(unittest.TestCase):
    """The same behaviour under every strategy; the test methods are made
    per strategy below the class."""

    def check_frames_reach_every_other_client_unchanged(self, strategy):
        with Server(self, "--broadcast", strategy) as server:
            a, b, c = RawClient(server), RawClient(server), RawClient(server)
            every_byte = bytes(range(256)) * 3
            for payload in (b"from a", every_byte, b""):
                a.send_frame(payload)
                self.assertEqual(b.recv_frame(), payload)
                self.assertEqual(c.recv_frame(), payload)
            # a's own frames, had they come back, would be ahead of b's: the
            # server handled them before b even received them.
            b.send_frame(b"from b")
            self.assertEqual(a.recv_frame(), b"from b")
            self.assertEqual(c.recv_frame(), b"from b")
            leave_all(server, a, b, c)
            status, stats = server.stop()
            self.assertEqual(status, 0)
            self.assertEqual(stats["messages_in"], 4)
            self.assertEqual(stats["messages_delivered"], 8)

    def check_oversized_frame_closes_only_that_client(self, strategy):
        with Server(self, "--broadcast", strategy, "--max-frame", "1024") as server:
            a, b, bad = RawClient(server), RawClient(server), RawClient(server)
            bad.sock.sendall(struct.pack(">I", 1025) + b"x" * 100)
            self.assertTrue(bad.closed_by_server(), "the server kept the connection open")
            server.log.wait_for(r"closing %s: frame of 1025 bytes exceeds the limit of 1024"
                                % re.escape(bad.address))
            a.send_frame(b"y" * 1024)  # exactly the limit is fine
            self.assertEqual(b.recv_frame(), b"y" * 1024)
            b.send_frame(b"still here")
            self.assertEqual(a.recv_frame(), b"still here")
            bad.close()
            leave_all(server, a, b)
            status, _ = server.stop()
            self.assertEqual(status, 0)

    def check_shutdown_ends_a_send_blocked_on_a_client_that_never_reads(self, strategy):
        # The server's send buffer is pinned small and the silent client's
        # receive buffer too, so one large frame can never be delivered to it:
        # the thread sending it (global-lock, snapshot) or its writer (queue)
        # is blocked in send when SIGTERM comes, and must still end by the
        # grace deadline.
        grace_ms = 500
        with Server(self, "--broadcast", strategy, "--sndbuf", "65536",
                    "--shutdown-grace-ms", str(grace_ms)) as server:
            a, reader = RawClient(server), RawClient(server)
            silent = RawClient(server, receive_buffer=4096)
            a.send_frame(b"s" * LARGE)
            # The reader joined before the silent client, so (in the two
            # strategies that send in join order) the broadcast has moved on
            # to the silent client once the reader has the frame.
            self.assertEqual(reader.recv_frame(), b"s" * LARGE)
            started = time.monotonic()
            status, stats = server.stop()
            self.assertEqual(status, 0)
            self.assertLess(time.monotonic() - started, grace_ms / 1000 + 20)
            self.assertEqual(stats["messages_in"], 1)
            self.assertEqual(stats["messages_delivered"], 1)  # the reader's, not the silent one's
            self.assertTrue(reader.closed_by_server())
            for client in (a, reader, silent):
                client.close()


# The snapshot strategy cannot pass this one: at shutdown the silent
# client's thread closes its descriptor while another thread is blocked in
# send() on it from a snapshot. That is the strategy's second flaw itself
# (ThreadSanitizer reports it as a race between close and send), shown in
# docs/part2_chat.md rather than tested.
NOT_FOR = {("check_shutdown_ends_a_send_blocked_on_a_client_that_never_reads", "snapshot")}


def _add_strategy_tests():
    for name in [n for n in dir(RoomTests) if n.startswith("check_")]:
        for strategy in STRATEGIES:
            if (name, strategy) in NOT_FOR:
                continue
            def test(self, name=name, strategy=strategy):
                getattr(self, name)(strategy)
            test_name = "test_%s_%s" % (name[len("check_"):], strategy.replace("-", "_"))
            setattr(RoomTests, test_name, test)


_add_strategy_tests()


class StressTests(unittest.TestCase):
    """Many concurrent senders of large frames: every receiver must get every
    other client's frames, whole and in order, none lost, none its own."""

    CLIENTS, SENDERS, FRAMES = 8, 6, 24

    def check_many_senders(self, strategy):
        with Server(self, "--broadcast", strategy, "--quiet") as server:
            status, summary, report = run_stress(
                self, server, "--clients", str(self.CLIENTS), "--senders", str(self.SENDERS),
                "--frames", str(self.FRAMES), "--size", str(LARGE), "--window", "4",
                "--duration", str(PATIENCE))
            self.assertEqual(status, 0, report)
            self.assertTrue(summary["complete"], report)
            self.assertEqual(summary["frames_corrupt"], 0)
            self.assertEqual(summary["own_frames"], 0)
            self.assertEqual(summary["frames_missing"], 0)
            self.assertEqual(summary["dropped"], [])
            for receiver in summary["receivers"]:
                expected = [0 if sender == receiver["client"] else self.FRAMES
                            for sender in range(self.SENDERS)]
                self.assertEqual(receiver["from"], expected, receiver)
            server_status, stats = server.stop()
            self.assertEqual(server_status, 0)
            data_deliveries = self.SENDERS * self.FRAMES * (self.CLIENTS - 1)
            self.assertGreaterEqual(stats["messages_delivered"], data_deliveries)

    def test_global_lock_many_senders_large_frames(self):
        self.check_many_senders("global-lock")

    def test_queue_many_senders_large_frames(self):
        self.check_many_senders("queue")


class QueueTests(unittest.TestCase):
    def test_client_that_never_reads_is_dropped_and_the_others_get_everything(self):
        # A reading client can have up to senders x window frames queued
        # (the window bounds how far a sender may run ahead of the slowest
        # reader), so the queue must hold more than that, or a reader that is
        # merely descheduled gets dropped too; twice that is still far below
        # the 40 MiB the client that never reads is sent.
        senders, window = 4, 4
        queue_bytes = 2 * senders * window * (LARGE + 4)
        with Server(self, "--broadcast", "queue", "--queue-bytes", str(queue_bytes)) as server:
            status, summary, report = run_stress(
                self, server, "--clients", "6", "--senders", str(senders), "--frames", "40",
                "--size", str(LARGE), "--window", str(window), "--slow", "--duration", str(PATIENCE))
            self.assertEqual(status, 0, report)
            self.assertTrue(summary["slow"]["closed_by_server"], report)
            server.log.wait_for(r"warn: dropping %s: outbound queue full"
                                % re.escape(summary["slow"]["address"]))
            self.assertTrue(summary["complete"], report)
            self.assertEqual(summary["frames_missing"], 0)
            self.assertEqual(summary["frames_corrupt"], 0)
            self.assertEqual(summary["dropped"], [])  # only the slow one
            server_status, stats = server.stop()
            self.assertEqual(server_status, 0)
            self.assertEqual(stats["clients_dropped"], 1)

    def test_shutdown_delivers_what_is_queued_then_closes(self):
        frames = 40
        # A large grace period: the late reader starts reading only after
        # SIGTERM, and must get everything before the deadline.
        with Server(self, "--broadcast", "queue", "--sndbuf", "65536",
                    "--queue-bytes", str(64 << 20), "--shutdown-grace-ms", "30000") as server:
            a = RawClient(server)
            late = RawClient(server, receive_buffer=4096)
            c = RawClient(server)
            for i in range(frames):
                a.send_frame(bytes([i]) * LARGE)
            # c has every frame, so every broadcast is over, and each one
            # queued its frame for the late reader at the same time as for c.
            for i in range(frames):
                self.assertEqual(c.recv_frame(), bytes([i]) * LARGE)
            server.process.send_signal(signal.SIGTERM)
            # c's thread has seen the stop: no frame will be read any more.
            server.log.wait_for(r"closing %s: server shutting down" % re.escape(c.address))
            for i in range(frames):
                self.assertEqual(late.recv_frame(), bytes([i]) * LARGE, "frame %d" % i)
            self.assertIsNone(late.recv_frame())  # then EOF
            status, stats = server.stop()
            self.assertEqual(status, 0)
            self.assertEqual(stats["messages_delivered"], 2 * frames)
            for client in (a, late, c):
                client.close()


class ClientTests(unittest.TestCase):
    def start_client(self, server, *args):
        process = subprocess.Popen([CLIENT, str(server.port), *args], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = Lines(process.stdout), Lines(process.stderr)
        address = err.wait_for(r"connected to 127\.0\.0\.1:\d+ from (\S+);").group(1)
        server.wait_joined(address)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        return process, out, err

    def finish(self, process, err, name):
        status = process.wait(PATIENCE)
        assert_no_sanitizer_report(self, name, err.text())
        return status

    def test_lines_from_one_client_are_printed_by_the_other(self):
        with Server(self) as server:
            bob, bob_out, bob_err = self.start_client(server, "--name", "bob")
            alice, alice_out, alice_err = self.start_client(server, "--name", "alice")
            bob.stdin.write("hi alice\n")
            bob.stdin.flush()
            alice_out.wait_for(r"^bob: hi alice$")
            # The last line has no newline: the end of input still sends it.
            alice.stdin.write("hello\nsecond line\nlast")
            alice.stdin.close()
            self.assertEqual(self.finish(alice, alice_err, "alice's chat-client"), 0)
            bob_out.wait_for(r"^alice: last$")
            bob.stdin.close()
            self.assertEqual(self.finish(bob, bob_err, "bob's chat-client"), 0)
            self.assertEqual(bob_out.text().splitlines(),
                             ["alice: hello", "alice: second line", "alice: last"])
            # A client never receives its own lines.
            self.assertEqual(alice_out.text().splitlines(), ["bob: hi alice"])
            status, stats = server.stop()
            self.assertEqual(status, 0)
            self.assertEqual(stats["messages_in"], 4)

    def test_client_exits_when_the_server_stops(self):
        with Server(self) as server:
            bob, _, bob_err = self.start_client(server)
            status, _ = server.stop()
            self.assertEqual(status, 0)
            self.assertEqual(self.finish(bob, bob_err, "chat-client"), 0)
            self.assertIn("the server closed the connection", bob_err.text())

    def test_connection_refused_is_reported(self):
        # A port that was free a moment ago; nothing listens on it now.
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        result = subprocess.run([CLIENT, str(port)], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=PATIENCE)
        self.assertEqual(result.returncode, 1)
        self.assertIn("Connection refused", result.stderr)
        self.assertIn("chat-server %d" % port, result.stderr)


if __name__ == "__main__":
    unittest.main()
