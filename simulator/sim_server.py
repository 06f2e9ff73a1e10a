# Starts a server binary the way every server in the repository is started
# (on port 0, ready when it prints "listening on HOST:PORT"), and stops it
# with SIGTERM. Readiness is that line, never a sleep.
#
# The one launcher of the repository: the simulator, the conformance and
# hostile suites, and every chapter's Python tests start their servers with
# ServerProcess (the tests import it by putting simulator/ on sys.path), so
# the readiness wait, the bounded stop and the log shown on failure are
# written once. OneServerPerTest is the same for the fixture of the tests
# that start a server per test.
from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Callable, Dict, List, Optional, Tuple

READY_TIMEOUT = 10.0  # seconds to wait for the "listening on" line
STOP_TIMEOUT = 5.0  # seconds a server gets to exit after SIGTERM
KILL_TIMEOUT = 5.0  # seconds to wait after SIGKILL before giving up
DRAIN_JOIN_TIMEOUT = 1.0  # seconds for the stdout reader to see EOF at the end
STDERR_TAIL_LINES = 20
# The log is a file (see ServerProcess), so a wait for a line looks at it
# this often until its deadline; a line is seen at most this late.
LOG_POLL_INTERVAL = 0.02
LOG_READ_SIZE = 1 << 16

_LISTENING = re.compile(r"^listening on (\[(?P<v6>[^\]]+)\]|(?P<v4>[^:\s]+)):(?P<port>\d+)\s*$")

# A server that binds a wildcard address is reached through loopback.
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class ServerError(Exception):
    """The server could not be started or stopped as the contract says."""


def parse_listening_line(line: str) -> Tuple[str, int]:
    """Parse `listening on HOST:PORT` (IPv6 as `[::1]:PORT`) into (host, port).

    Raises ValueError if the line has another form.
    """
    match = _LISTENING.match(line.strip())
    if not match:
        raise ValueError("expected 'listening on HOST:PORT', got %r" % line)
    host = match.group("v6") or match.group("v4")
    return _WILDCARD_TO_LOOPBACK.get(host, host), int(match.group("port"))


def parse_address(text: str) -> Tuple[str, int]:
    """Parse a command-line address `HOST:PORT` or `[V6HOST]:PORT`."""
    match = re.match(r"^(\[(?P<v6>[^\]]+)\]|(?P<v4>[^:]+)):(?P<port>\d+)$", text)
    if not match:
        raise ValueError("expected HOST:PORT or [IPV6]:PORT, got %r" % text)
    return match.group("v6") or match.group("v4"), int(match.group("port"))


def format_address(host: str, port: int) -> str:
    """The inverse of parse_address."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def server_command(spec: str, protocol: str, max_frame: Optional[int] = None) -> List[str]:
    """Build the argv for `spec` ("BINARY [extra args...]", shell-quoted):
    BINARY --port 0 --protocol P [--max-frame N] [extra args...].

    As in the original series' test script, a BINARY ending in `.py` is run
    with the interpreter running the simulator; a BINARY ending in `.exe` is
    a Windows build, run under wine when this is not Windows.
    """
    words = shlex.split(spec)
    if not words:
        raise ValueError("empty server command")
    binary, extra = words[0], words[1:]
    if binary.endswith(".py"):
        argv = [sys.executable, "-u", binary]
    elif binary.endswith(".exe") and os.name != "nt":
        argv = ["wine", binary]
    else:
        argv = [binary]
    argv += ["--port", "0", "--protocol", protocol]
    if max_frame is not None:
        argv += ["--max-frame", str(max_frame)]
    return argv + extra


class ServerProcess:
    """One running server. Use as a context manager, or start() and stop().

    The server's stderr goes to a temporary file (a pipe could fill up and
    block the server), its log: log_lines() reads it while the server runs,
    wait_for_log() waits for a line, and every error message ends with its
    last lines. Its stdout is drained by a thread for the same reason; the
    lines after `listening on` can be read with stdout_line().

    `env` and `preexec_fn` are passed to subprocess.Popen (a test lowers a
    resource limit in the child with preexec_fn); with `stdin_pipe` the
    server's stdin is a pipe that close_stdin() closes (some test servers
    stop at the end of their input), otherwise /dev/null.
    """

    def __init__(self, argv: List[str], ready_timeout: float = READY_TIMEOUT, *,
                 env: Optional[Dict[str, str]] = None,
                 preexec_fn: Optional[Callable[[], None]] = None,
                 stdin_pipe: bool = False) -> None:
        self.argv = argv
        self.ready_timeout = ready_timeout
        self._env = env
        self._preexec_fn = preexec_fn
        self._stdin_pipe = stdin_pipe
        self.host: Optional[str] = None
        self.port: Optional[int] = None
        self._process: Optional[subprocess.Popen] = None
        self._stderr = tempfile.TemporaryFile()
        self._closed_log: List[str] = []
        self._stdout_lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._drainer = threading.Thread(target=self._drain_stdout, daemon=True)

    @property
    def description(self) -> str:
        return " ".join(shlex.quote(word) for word in self.argv)

    def start(self) -> Tuple[str, int]:
        """Start the server and wait for its `listening on` line.

        Returns (host, port). Raises ServerError, with the exit status and the
        tail of stderr, if the line does not come within ready_timeout or the
        server exits first.
        """
        try:
            self._process = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE if self._stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=self._stderr, universal_newlines=True,
                env=self._env, preexec_fn=self._preexec_fn)
        except OSError as error:
            raise ServerError("cannot start %s: %s" % (self.description, error)) from None
        self._drainer.start()
        try:
            line = self._stdout_lines.get(timeout=self.ready_timeout)
        except queue.Empty:
            self._kill()
            raise ServerError("%s did not print 'listening on HOST:PORT' within %.1f s%s" % (
                self.description, self.ready_timeout, self.failure_report())) from None
        if line is None:
            self._process.wait()
            raise ServerError("%s exited before printing 'listening on HOST:PORT'%s"
                              % (self.description, self.failure_report()))
        try:
            self.host, self.port = parse_listening_line(line)
        except ValueError as error:
            self._kill()
            raise ServerError("%s: %s%s" % (
                self.description, error, self.failure_report())) from None
        return self.host, self.port

    def start_in_test(self) -> Tuple[str, int]:
        """start() for a unittest: a server that does not come up is a
        failure of the test (AssertionError, saying what the server did),
        not an error in it, and is closed."""
        try:
            return self.start()
        except ServerError as error:
            self.close()
            raise AssertionError(str(error)) from None

    def _drain_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._stdout_lines.put(line)
        self._stdout_lines.put(None)  # end of output

    @property
    def process(self) -> subprocess.Popen:
        """The running process (for poll(), pid, send_signal())."""
        if self._process is None:
            raise ServerError("server was never started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout_line(self, timeout: float) -> Optional[str]:
        """The next line the server prints on stdout after `listening on`,
        waiting up to `timeout` seconds; None at its end or the deadline."""
        try:
            line = self._stdout_lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            self._stdout_lines.put(None)  # the end stays the end for the next caller
        return line

    def close_stdin(self) -> None:
        """Close the server's stdin pipe (with stdin_pipe=True)."""
        if self._process is not None and self._process.stdin is not None:
            try:
                self._process.stdin.close()
            except OSError:
                pass

    def log_lines(self) -> List[str]:
        """Every complete line the server has written to stderr so far.

        Read with pread() so that the file offset, which the server's own
        writes share with us, never moves (stderr_tail() rewinds it, which
        is fine only once the server is quiet).
        """
        if self._stderr.closed:
            return self._closed_log
        fd = self._stderr.fileno()
        chunks, offset = [], 0
        while True:
            chunk = os.pread(fd, LOG_READ_SIZE, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        text = b"".join(chunks).decode("utf-8", "replace")
        return text.split("\n")[:-1]  # a line still being written is not counted

    def log(self) -> str:
        """The server's whole stderr so far."""
        return "\n".join(self.log_lines())

    def find_log(self, pattern: str, timeout: float = 0.0) -> Optional[Tuple[int, "re.Match[str]"]]:
        """(index, match) of the first log line matching `pattern`, waiting
        up to `timeout` seconds for it to be written; None if it was not."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            # Looked at before the log is read: a server that has exited
            # writes no more lines, so one last look settles it.
            exited = self.exit_status() is not None
            for index, line in enumerate(self.log_lines()):
                match = regex.search(line)
                if match:
                    return index, match
            if exited or time.monotonic() >= deadline:
                return None
            time.sleep(LOG_POLL_INTERVAL)

    def wait_for_log(self, pattern: str, timeout: float) -> Optional["re.Match[str]"]:
        """The first log line's match of `pattern`, waiting up to `timeout`
        seconds for it; None if no line matches by then."""
        found = self.find_log(pattern, timeout)
        return None if found is None else found[1]

    def count_log_lines(self, pattern: str) -> int:
        """How many log lines so far match `pattern`."""
        regex = re.compile(pattern)
        return sum(1 for line in self.log_lines() if regex.search(line))

    def exit_status(self) -> Optional[int]:
        """The exit status if the server has exited, else None."""
        return None if self._process is None else self._process.poll()

    def terminate(self) -> None:
        """Send SIGTERM (on Windows: TerminateProcess; to a Windows binary
        under wine: SIGINT) without waiting."""
        if self._process is not None and self._process.poll() is None:
            if self.argv[0] == "wine":
                # wine turns SIGINT into the CTRL_C_EVENT a Windows console
                # program handles to stop gracefully, but SIGTERM ends the
                # program at once (no handler runs, exit status -15).
                self._process.send_signal(signal.SIGINT)
            else:
                self._process.terminate()

    def wait(self, timeout: float) -> Optional[int]:
        """Wait up to `timeout` seconds for the exit; the status, or None."""
        assert self._process is not None
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM the server and wait for it; returns its exit status.

        Raises ServerError if it had to be killed after `timeout` seconds.
        """
        if self._process is None:
            raise ServerError("server was never started")
        self.terminate()
        status = self.wait(timeout)
        if status is None:
            self._kill()
            raise ServerError("%s did not exit within %.1f s of SIGTERM and was killed%s"
                              % (self.description, timeout, self.failure_report()))
        return status

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            try:
                self._process.wait(timeout=KILL_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last `lines` lines the server wrote to stderr."""
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def failure_report(self) -> str:
        """Exit status (if exited) and stderr tail, for error messages."""
        status = self.exit_status()
        parts = [] if status is None else ["\n  exit status: %s" % describe_status(status)]
        tail = self.stderr_tail()
        parts.append("\n  stderr (last lines):\n" + _indent(tail) if tail
                     else "\n  stderr: (empty)")
        return "".join(parts)

    def finish(self, timeout: float) -> Tuple[Optional[int], str]:
        """The end of a test: SIGTERM the server if it still runs, wait up to
        `timeout` seconds, then close(). Returns its exit status (None if it
        had to be killed) and its whole log."""
        status = self.exit_status()
        if self._process is not None and status is None:
            self.terminate()
            status = self.wait(timeout)
        self.close()
        return status, self.log()

    def close(self) -> None:
        """Make sure the process is gone and release the stderr file."""
        self._kill()
        self.close_stdin()
        if self._drainer.is_alive():
            self._drainer.join(DRAIN_JOIN_TIMEOUT)
        if self._process is not None and self._process.stdout is not None \
                and not self._drainer.is_alive():
            self._process.stdout.close()
        if not self._stderr.closed:
            # Kept, so that a test can still show the log after closing.
            self._closed_log = self.log_lines()
            self._stderr.close()

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


# What AddressSanitizer, LeakSanitizer, ThreadSanitizer ("...Sanitizer:")
# and UBSan ("file:line:col: runtime error: ...") write into a server's log.
SANITIZER_REPORT = re.compile(r"Sanitizer|runtime error:")


def sanitizer_report(log: str) -> Optional[str]:
    """The first line of `log` that belongs to a sanitizer report, or None.
    Every test that runs a server checks its log with this after stopping it:
    under the sanitizer builds, a report is a failure even when every reply
    was right."""
    for line in log.splitlines():
        if SANITIZER_REPORT.search(line):
            return line
    return None


class OneServerPerTest(unittest.TestCase):
    """The base of a chapter's behaviour tests that start a fresh server for
    every test: setUp() makes self.server = server_class(*server_args) (a
    ServerProcess that starts itself, with start_in_test), and when the test
    ends, every client the test put in self.clients is closed, the server
    is stopped (finish: SIGTERM, then a kill after finish_timeout) and a
    sanitizer report in its log fails the test."""

    server_class: Callable[..., ServerProcess]
    server_args: List[str] = []
    finish_timeout = STOP_TIMEOUT

    def setUp(self) -> None:
        self.server: Any = self.server_class(*self.server_args)
        self.clients: List[Any] = []  # anything with a close()
        self.addCleanup(self._finish_server)

    def _finish_server(self) -> None:
        for client in self.clients:
            client.close()
        _, log = self.server.finish(self.finish_timeout)
        self.assertIsNone(sanitizer_report(log), "sanitizer report in the server's log:\n" + log)


def describe_status(status: int) -> str:
    """Exit status in words: negative statuses are signals on POSIX."""
    if status < 0:
        try:
            return "%d (killed by %s)" % (status, signal.Signals(-status).name)
        except ValueError:
            return "%d (killed by signal %d)" % (status, -status)
    return str(status)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())

