"""What part 2's process tests share: a server started on port 0 whose log
lines can be waited for, a blocking client with timeouts, and a thread count.

Every wait here is for an event (a line, bytes, an exit) and has a timeout;
two look repeatedly instead, and say why: thread_count_becomes(), and the
wait for a log line (sim_server keeps the log in a file, so that a server
can never block on a full pipe).
"""
from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))
from sim_server import ServerError, ServerProcess  # noqa: E402  (the repository's one launcher)

READY_TIMEOUT = 10.0  # seconds for the "listening on" line
EVENT_TIMEOUT = 10.0  # seconds for anything that must happen
# How long a test watches for something that must not happen (a greeting
# to a client the server must not have accepted). An absence has no event
# to wait for: a correct server passes however long this is; the window
# only has to be long enough for a broken one to show itself.
ABSENCE_WINDOW = 0.3



def binary(variable: str) -> str:
    """The path of a binary ctest passes in the environment."""
    path = os.environ.get(variable)
    if not path:
        raise RuntimeError("set %s to the binary to test (ctest does)" % variable)
    return path


class Server:
    """A server process started with `--port 0` by sim_server.ServerProcess
    (the repository's one launcher, which keeps the server's stderr as its
    log); the failures here are the test's AssertionErrors."""

    def __init__(self, argv: List[str]) -> None:
        self.argv = argv + ["--port", "0"]
        self._server = ServerProcess(self.argv, READY_TIMEOUT)
        try:
            self.host, self.port = self._server.start()
        except ServerError as error:
            self._server.close()
            raise AssertionError(str(error)) from None

    @property
    def process(self) -> subprocess.Popen:
        return self._server.process

    @property
    def pid(self) -> int:
        return self._server.pid

    def log(self) -> str:
        return self._server.log()

    def wait_for_log(self, pattern: str, timeout: float = EVENT_TIMEOUT) -> str:
        """Waits for a stderr line matching `pattern`; returns it."""
        match = self._server.wait_for_log(pattern, timeout)
        if match is None:
            raise AssertionError("no log line matching %r within %.0f s; the log:\n%s"
                                 % (pattern, timeout, self.log()))
        return match.string

    def terminate(self) -> None:
        self._server.terminate()

    def wait(self, timeout: float = EVENT_TIMEOUT) -> int:
        """Waits for the exit; returns the status, fails the test on a hang."""
        status = self._server.wait(timeout)
        if status is None:
            self.kill()
            raise AssertionError("%s did not exit within %.0f s; the log:\n%s"
                                 % (self.argv, timeout, self.log()))
        return status

    def kill(self) -> None:
        self._server.close()

    def close(self) -> None:
        self._server.close()


class Client:
    """One blocking TCP client to 127.0.0.1:port."""

    def __init__(self, port: int, name: str = "client") -> None:
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=EVENT_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def expect(self, expected: bytes, timeout: float = EVENT_TIMEOUT) -> None:
        """Receives exactly len(expected) bytes and requires them to match."""
        got = b""
        end = time.monotonic() + timeout
        while len(got) < len(expected):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: expected %r within %.1f s, got %r"
                                     % (self.name, expected[:40], timeout, got[:40]))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(len(expected) - len(got))
            except socket.timeout:
                continue
            if not chunk:
                raise AssertionError("%s: connection closed after %r; expected %r"
                                     % (self.name, got[:40], expected[:40]))
            got += chunk
        if got != expected:
            raise AssertionError("%s: expected %r, got %r" % (self.name, expected[:40], got[:40]))

    def received_within(self, window: float) -> bytes:
        """Whatever arrives within `window` seconds (b"" if nothing did);
        ends early on the first byte."""
        readable, _, _ = select.select([self.sock], [], [], window)
        if not readable:
            return b""
        self.sock.setblocking(False)
        try:
            return self.sock.recv(65536) or b"<EOF>"
        except BlockingIOError:
            return b""
        except ConnectionResetError:
            return b"<RST>"
        finally:
            self.sock.setblocking(True)

    def nothing_pending(self) -> bool:
        """True if nothing has arrived yet (a non-blocking look, no waiting)."""
        return self.received_within(0) == b""

    def expect_end(self, timeout: float = EVENT_TIMEOUT) -> None:
        """Requires the server to end the connection (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return
        except socket.timeout:
            raise AssertionError("%s: the server did not close the connection within %.0f s"
                                 % (self.name, timeout)) from None
        if data:
            raise AssertionError("%s: expected the end of the connection, got %r"
                                 % (self.name, data[:40]))

    def close(self) -> None:
        self.sock.close()


def thread_count(pid: int) -> int:
    """Threads of a process, as the kernel lists them."""
    return len(os.listdir("/proc/%d/task" % pid))


def thread_count_becomes(pid: int, expected: int, timeout: float = EVENT_TIMEOUT) -> int:
    """Waits until the process has `expected` threads; returns the last count.

    Polls /proc: a thread's exit is not an event another process can wait
    for, so a short-interval poll with a deadline is the only way.
    """
    end = time.monotonic() + timeout
    count = thread_count(pid)
    while count != expected and time.monotonic() < end:
        time.sleep(0.005)
        count = thread_count(pid)
    return count


def frame(payload: bytes) -> bytes:
    """A framed-protocol frame: 4-byte big-endian length, then the payload."""
    return len(payload).to_bytes(4, "big") + payload


def shifted(payload: bytes) -> bytes:
    """Each byte plus one, mod 256: the reply of both protocols."""
    return bytes((b + 1) % 256 for b in payload)
