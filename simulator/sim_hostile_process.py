# What the hostile-client suite observes of a server from outside: its
# memory, open descriptors, CPU time and log, read from /proc (Linux) while
# it runs, and the kernel's queues of a loopback connection to it. The
# process itself is started by sim_server.ServerProcess, the one launcher of
# the simulator; this module only adds the measurements.
from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from sim_net import CaseFailure
from sim_server import ServerProcess

MIB = 1024 * 1024
MEMORY_SAMPLE_INTERVAL = 0.01  # seconds between two VmRSS samples


class MeasuredServer(ServerProcess):
    """A ServerProcess whose resources can be read from /proc while it runs.

    Every reading raises CaseFailure if the process is gone, since a case
    that measures a dead server has found its failure already.
    """

    @property
    def pid(self) -> int:
        if self._process is None:
            raise CaseFailure("the server was never started (a bug in the case)")
        return self._process.pid

    def _proc(self, name: str) -> str:
        path = "/proc/%d/%s" % (self.pid, name)
        try:
            with open(path) as file:
                return file.read()
        except OSError as error:
            raise CaseFailure("cannot read %s (has the server exited? status %s): %s"
                              % (path, self.exit_status(), error)) from None

    def rss_bytes(self) -> int:
        """Resident memory now (VmRSS of /proc/PID/status)."""
        match = re.search(r"^VmRSS:\s+(\d+)\s+kB", self._proc("status"), re.MULTILINE)
        if match is None:  # a zombie has no VmRSS line
            raise CaseFailure("the server process has no VmRSS (it is exiting? status %s)"
                              % self.exit_status())
        return int(match.group(1)) * 1024

    def fd_count(self) -> int:
        """Open descriptors now (the entries of /proc/PID/fd)."""
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except OSError as error:
            raise CaseFailure("cannot list the server's descriptors: %s" % error) from None

    def cpu_seconds(self) -> float:
        """User plus system CPU time of all its threads so far (/proc/PID/stat)."""
        # The command name (field 2) is in parentheses and may hold spaces:
        # split after its closing one. utime and stime are fields 14 and 15.
        fields = self._proc("stat").rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stderr_lines(self) -> List[str]:
        """Every complete line the server has written to stderr so far."""
        return self.log_lines()


class MemoryWatch:
    """Samples a server's VmRSS from a thread between start() and stop().

    growth() is the peak over the baseline taken at start(). Sampling, not
    one reading at the end: a server may free a huge buffer as soon as its
    client leaves, and glibc returns large blocks to the kernel at once.
    """

    def __init__(self, server: MeasuredServer) -> None:
        self.server = server
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)

    def __enter__(self) -> "MemoryWatch":
        self.baseline = self.peak = self.server.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.wait(MEMORY_SAMPLE_INTERVAL):
            try:
                self.peak = max(self.peak, self.server.rss_bytes())
            except CaseFailure:
                return  # the process is gone; the case reports that itself

    def growth(self) -> int:
        """Highest VmRSS seen so far (including one reading now) minus the baseline."""
        try:
            self.peak = max(self.peak, self.server.rss_bytes())
        except CaseFailure:
            pass
        return self.peak - self.baseline

    def require_growth_below(self, limit: int, during: str) -> None:
        growth = self.growth()
        if growth >= limit:
            raise CaseFailure("the server's resident memory (VmRSS) grew by %.1f MiB (from %.1f "
                              "to %.1f MiB) %s; the limit is %.0f MiB"
                              % (growth / MIB, self.baseline / MIB, self.peak / MIB, during,
                                 limit / MIB))


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `condition()` every `interval` seconds for up to `timeout`;
    whether it became true. For states the server offers no event for
    (its descriptor count), never as a substitute for a socket event."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# ------------------------------------------------------ a connection's kernel queues

TCP_ESTABLISHED = "01"  # the st column of /proc/net/tcp
TCP_TIME_WAIT = "06"


@dataclass(frozen=True)
class SocketQueues:
    """One end of a TCP connection, as a line of /proc/net/tcp shows it."""

    state: str  # two hex digits: 01 ESTABLISHED, 04 FIN_WAIT1 (closed, data still queued), ...
    send_queue: int  # written by its process and not yet acknowledged by the peer
    receive_queue: int  # received and not yet read by its process


class ConnectionWatch:
    """Both ends of one loopback connection in /proc/net/tcp (or tcp6), read
    from the client's socket: the server's end shows what the server has
    written that the client has not yet received or acknowledged, and when
    the server closes (its end leaves ESTABLISHED at once, even while the
    bytes it wrote are still queued), neither of which the client sees on
    its own socket. Linux only."""

    def __init__(self, sock: socket.socket) -> None:
        self.client_port = sock.getsockname()[1]
        self.server_port = sock.getpeername()[1]
        self.path = "/proc/net/tcp6" if sock.family == socket.AF_INET6 else "/proc/net/tcp"
        if not os.path.exists(self.path):
            raise CaseFailure("%s does not exist: this case watches a connection's kernel "
                              "queues there (Linux only)" % self.path)
        self._ports = (":%04X " % self.client_port, ":%04X " % self.server_port)

    def read(self) -> Tuple[Optional[SocketQueues], Optional[SocketQueues]]:
        """(the server's end, the client's end), each None once it is gone
        (a reset removes it at once)."""
        ends = {}
        with open(self.path) as table:
            for line in table:
                if self._ports[0] not in line or self._ports[1] not in line:
                    continue
                fields = line.split()
                local, remote = int(fields[1][-4:], 16), int(fields[2][-4:], 16)
                if (local, remote) == (self.server_port, self.client_port):
                    end = "server"
                elif (local, remote) == (self.client_port, self.server_port):
                    end = "client"
                else:
                    continue
                send_queue, receive_queue = (int(value, 16) for value in fields[4].split(":"))
                queues = SocketQueues(fields[3], send_queue, receive_queue)
                # A TIME_WAIT line left by an older connection between the
                # same ports never hides the live one.
                if end not in ends or ends[end].state == TCP_TIME_WAIT:
                    ends[end] = queues
        return ends.get("server"), ends.get("client")
