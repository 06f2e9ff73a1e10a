"""What part 2's process tests share: a server started on port 0 whose log
lines can be waited for, a blocking client with timeouts, and a thread count.

Every wait here is for an event (a line, bytes, an exit) and has a timeout;
the one exception, thread_count_becomes(), says why it polls.
"""
from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import threading
import time
from typing import List, Optional

READY_TIMEOUT = 10.0  # seconds for the "listening on" line
EVENT_TIMEOUT = 10.0  # seconds for anything that must happen
# How long a test watches for something that must not happen (a greeting
# to a client the server must not have accepted). An absence has no event
# to wait for: a correct server passes however long this is; the window
# only has to be long enough for a broken one to show itself.
ABSENCE_WINDOW = 0.3

_LISTENING = re.compile(r"^listening on (\S+):(\d+)$")


def binary(variable: str) -> str:
    """The path of a binary ctest passes in the environment."""
    path = os.environ.get(variable)
    if not path:
        raise RuntimeError("set %s to the binary to test (ctest does)" % variable)
    return path


class Server:
    """A server process started with `--port 0`; stdout and stderr are read
    by threads so neither pipe can fill up and block it."""

    def __init__(self, argv: List[str]) -> None:
        self.argv = argv + ["--port", "0"]
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        universal_newlines=True)
        self._lines: List[str] = []
        self._changed = threading.Condition()
        self._stdout_line: Optional[str] = None
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        with self._changed:
            if not self._changed.wait_for(lambda: self._stdout_line is not None, READY_TIMEOUT):
                self.kill()
                raise AssertionError("%s printed no 'listening on' line within %.0f s:\n%s"
                                     % (self.argv, READY_TIMEOUT, self.log()))
            line = self._stdout_line
        match = _LISTENING.match(line.strip())
        if not match:
            self.kill()
            raise AssertionError("expected 'listening on HOST:PORT', got %r\n%s"
                                 % (line, self.log()))
        self.port = int(match.group(2))

    def _read_stdout(self) -> None:
        first = self.process.stdout.readline()
        with self._changed:
            self._stdout_line = first
            self._changed.notify_all()
        for _ in self.process.stdout:  # drain the rest
            pass

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def wait_for_log(self, pattern: str, timeout: float = EVENT_TIMEOUT) -> str:
        """Waits for a stderr line matching `pattern`; returns it."""
        regex = re.compile(pattern)

        def found() -> Optional[str]:
            return next((line for line in self._lines if regex.search(line)), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None, timeout):
                raise AssertionError("no log line matching %r within %.0f s; the log:\n%s"
                                     % (pattern, timeout, "\n".join(self._lines)))
            return found()

    def terminate(self) -> None:
        self.process.terminate()

    def wait(self, timeout: float = EVENT_TIMEOUT) -> int:
        """Waits for the exit; returns the status, fails the test on a hang."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %.0f s; the log:\n%s"
                                 % (self.argv, timeout, self.log())) from None
        for reader in self._readers:
            reader.join(EVENT_TIMEOUT)  # the pipes close at exit: the log is complete
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(EVENT_TIMEOUT)

    def close(self) -> None:
        self.kill()
        self.process.stdout.close()
        self.process.stderr.close()


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
