"""Helpers for part 6's Python test drivers: a server process on port 0
with its stderr read line by line, a client with deadlines, and the Qt
warnings that must never appear in a server's log.

Every wait has a deadline; nothing sleeps and hopes.
"""
from __future__ import annotations

import queue
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))
from sim_server import parse_listening_line  # noqa: E402  (the repository's one parser)

TIMEOUT = 10.0  # seconds: the longest any expected event may take
ABSENCE_WINDOW = 0.5  # seconds to watch for something that must not happen yet

# What Qt prints when an object is used from a thread it does not belong to
# (docs/part6_qt.md, "Pitfalls"). The servers route Qt's messages into their
# log as "qt: ..." lines, so any "qt:" warning is caught too.
QT_THREAD_WARNINGS = re.compile(
    r"socket notifiers cannot be enabled|Cannot create children for a parent|"
    r"QSocketNotifier|QObject::killTimer|QObject::startTimer|moveToThread|"
    r"warn: qt: |error: qt: ", re.IGNORECASE)


class Server:
    """A server binary started on port 0; stderr is collected as it comes."""

    def __init__(self, argv: Sequence[str], open_files: Optional[int] = None) -> None:
        """open_files: the server's RLIMIT_NOFILE soft limit, when given."""
        self.argv = list(argv)

        def limit_open_files() -> None:
            if open_files is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, hard))

        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        universal_newlines=True, preexec_fn=limit_open_files)
        self.lines: List[str] = []
        self._changed = threading.Condition()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        ready: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: ready.put(self.process.stdout.readline()),
                         daemon=True).start()
        try:
            line = ready.get(timeout=TIMEOUT)
        except queue.Empty:
            self.kill()
            raise AssertionError("no 'listening on' line within %.0f s" % TIMEOUT) from None
        if not line:
            self.kill()
            raise AssertionError("%s exited before listening:\n%s" % (self.argv, self.log()))
        self.host, self.port = parse_listening_line(line)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = TIMEOUT) -> Optional[int]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, line in enumerate(self.lines):
                    if regex.search(line):
                        return index
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = TIMEOUT) -> Optional[int]:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int:
        """SIGTERM, then the exit status (raises if it does not exit)."""
        self.terminate()
        status = self.wait_exit()
        if status is None:
            raise AssertionError("the server did not exit within %.0f s of SIGTERM" % TIMEOUT)
        self._stderr_reader.join(TIMEOUT)
        return status

    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def thread_warnings(self) -> List[str]:
        with self._changed:
            return [line for line in self.lines if QT_THREAD_WARNINGS.search(line)]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)
        self._stderr_reader.join(TIMEOUT)
        self.process.stdout.close()
        self.process.stderr.close()


class Client:
    """One blocking TCP client with a deadline on every read."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)

    def read(self, count: int, timeout: float = TIMEOUT) -> bytes:
        """Up to `count` bytes: fewer if the peer closed or time ran out."""
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(count - len(data))
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def at_eof(self, timeout: float = TIMEOUT) -> bool:
        """True when the peer closed (FIN or RST) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()
