# Starts a server binary the way every server in the repository is started
# (on port 0, ready when it prints "listening on HOST:PORT"), and stops it
# with SIGTERM. Readiness is that line, never a sleep.
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
from typing import List, Optional, Tuple

READY_TIMEOUT = 10.0  # seconds to wait for the "listening on" line
STOP_TIMEOUT = 5.0  # seconds a server gets to exit after SIGTERM
KILL_TIMEOUT = 5.0  # seconds to wait after SIGKILL before giving up
DRAIN_JOIN_TIMEOUT = 1.0  # seconds for the stdout reader to see EOF at the end
STDERR_TAIL_LINES = 20

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
    block the server); its stdout is drained by a thread for the same reason.
    """

    def __init__(self, argv: List[str], ready_timeout: float = READY_TIMEOUT) -> None:
        self.argv = argv
        self.ready_timeout = ready_timeout
        self.host: Optional[str] = None
        self.port: Optional[int] = None
        self._process: Optional[subprocess.Popen] = None
        self._stderr = tempfile.TemporaryFile()
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
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=self._stderr, universal_newlines=True)
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

    def _drain_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._stdout_lines.put(line)
        self._stdout_lines.put(None)  # end of output

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

    def close(self) -> None:
        """Make sure the process is gone and release the stderr file."""
        self._kill()
        if self._drainer.is_alive():
            self._drainer.join(DRAIN_JOIN_TIMEOUT)
        if self._process is not None and self._process.stdout is not None \
                and not self._drainer.is_alive():
            self._process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


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

