"""Helpers for part 6's Python test drivers: a server process on port 0
(started by sim_server.ServerProcess) whose log lines can be waited for, a
client with deadlines, and the Qt warnings that must never appear in a
server's log.

Every wait has a deadline; nothing sleeps and hopes.
"""
from __future__ import annotations

import os
import re
import resource
import select
import socket
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))
from sim_server import ServerError, ServerProcess  # noqa: E402  (the repository's one launcher)

TIMEOUT = 10.0  # seconds: the longest any expected event may take
ABSENCE_WINDOW = 0.5  # seconds to watch for something that must not happen yet

# What Qt prints when an object is used from a thread it does not belong to
# (docs/part6_qt.md, "Pitfalls"). The servers route Qt's messages into their
# log as "qt: ..." lines, so any "qt:" warning is caught too.
QT_THREAD_WARNINGS = re.compile(
    r"socket notifiers cannot be enabled|Cannot create children for a parent|"
    r"QSocketNotifier|QObject::killTimer|QObject::startTimer|moveToThread|"
    r"warn: qt: |error: qt: ", re.IGNORECASE)


class Server(ServerProcess):
    """A server binary started on port 0 (sim_server.ServerProcess, which
    keeps its stderr as the log)."""

    def __init__(self, argv: Sequence[str], open_files: Optional[int] = None,
                 environment: Optional[dict] = None) -> None:
        """open_files: the server's RLIMIT_NOFILE soft limit, when given;
        environment: variables set for the server, beside this process's
        (a value of None removes the variable)."""

        def limit_open_files() -> None:
            if open_files is not None:
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, hard))

        env = None if environment is None else {
            name: value for name, value in {**os.environ, **environment}.items()
            if value is not None}
        super().__init__(list(argv), TIMEOUT, preexec_fn=limit_open_files, env=env)
        try:
            self.start()
        except ServerError as error:
            self.close()
            raise AssertionError(str(error)) from None

    @property
    def lines(self) -> List[str]:
        """Every log line so far."""
        return self.log_lines()

    def wait_for_line(self, pattern: str, timeout: float = TIMEOUT) -> Optional[int]:
        """Index of the first log line matching `pattern`, waiting for it;
        None if it was not written within `timeout`."""
        found = self.find_log(pattern, timeout)
        return None if found is None else found[0]

    def wait_exit(self, timeout: float = TIMEOUT) -> Optional[int]:
        return self.wait(timeout)

    def stop(self, timeout: float = TIMEOUT) -> int:
        """SIGTERM, then the exit status (raises if it does not exit)."""
        try:
            return super().stop(timeout)
        except ServerError as error:
            raise AssertionError(str(error)) from None

    def fd_count(self) -> int:
        """Descriptors the server has open now."""
        return len(os.listdir("/proc/%d/fd" % self.process.pid))

    def cpu_seconds(self) -> float:
        """User plus system CPU time of all its threads so far."""
        with open("/proc/%d/stat" % self.process.pid) as stat:
            # Fields after the command name, which is in parentheses and
            # may hold spaces: utime and stime are the 12th and 13th.
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def blocked_threads(self) -> Dict[int, int]:
        """Its threads blocked in a system call now: thread id -> the
        call's number, from /proc/PID/task/TID/syscall (whose first field is
        that number, or "running" or -1 when the thread is in none)."""
        blocked = {}
        for task in Path("/proc/%d/task" % self.process.pid).iterdir():
            try:
                first = (task / "syscall").read_text().split()[0]
            except FileNotFoundError:  # the thread ended meanwhile
                continue
            if first.isdigit():
                blocked[int(task.name)] = int(first)
        return blocked

    def rss_bytes(self) -> int:
        """Resident memory now (VmRSS of /proc/PID/status)."""
        with open("/proc/%d/status" % self.process.pid) as status:
            match = re.search(r"^VmRSS:\s+(\d+)\s+kB", status.read(), re.MULTILINE)
        assert match is not None, "the server has no VmRSS (has it exited?)\n" + self.log()
        return int(match.group(1)) * 1024

    def thread_warnings(self) -> List[str]:
        return [line for line in self.log_lines() if QT_THREAD_WARNINGS.search(line)]

    def kill(self) -> None:
        self.close()


class Client:
    """One blocking TCP client with a deadline on every read."""

    def __init__(self, host: str, port: int, sock: Optional[socket.socket] = None) -> None:
        """sock: a socket already connecting to host:port, to adopt."""
        if sock is None:
            sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock = sock
        self.sock.settimeout(TIMEOUT)

    def peer_name(self) -> str:
        """How the server names this client in its log: HOST:PORT."""
        host, port = self.sock.getsockname()[:2]
        return "%s:%d" % (host, port)

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


def connect_at_once(host: str, port: int, count: int) -> List[Client]:
    """`count` clients connected with non-blocking connects, so that none
    waits for the server to accept the one before: the server sees them as
    one burst, as it would a crowd arriving together."""
    clients = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setblocking(False)
        sock.connect_ex((host, port))
        clients.append(Client(host, port, sock))
    return clients


def first_byte_of_each(clients: Sequence[Client], timeout: float = TIMEOUT) -> List[bytes]:
    """The first byte each client receives, or b"" for a client the server
    closed (FIN or RST). Raises AssertionError if any is still waiting for
    either at the deadline."""
    first = {}
    waiting = {client.sock: client for client in clients}
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("%d of %d clients were neither greeted nor closed within %.0f s"
                                 % (len(waiting), len(clients), timeout))
        readable, _, _ = select.select(list(waiting), [], [], left)
        for sock in readable:
            client = waiting.pop(sock)
            sock.setblocking(False)
            try:
                first[client] = sock.recv(1)
            except BlockingIOError:  # readable, then nothing: look again
                waiting[sock] = client
            except (ConnectionResetError, ConnectionRefusedError):
                first[client] = b""
            finally:
                sock.settimeout(TIMEOUT)
    return [first[client] for client in clients]
