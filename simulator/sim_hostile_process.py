# What the hostile-client suite observes of a server from outside: its
# memory, open descriptors, CPU time and log, read from /proc (Linux) while
# it runs. The process itself is started by sim_server.ServerProcess, the
# one launcher of the simulator; this module only adds the measurements.
from __future__ import annotations

import os
import re
import threading
import time
from typing import Callable, List

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
