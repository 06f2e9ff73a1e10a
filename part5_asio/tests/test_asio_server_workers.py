#!/usr/bin/env python3
"""What asio-server-workers' worker pool is for, proved without a timed
upper bound (a busy 2-core machine may take any time; it never computes
less, and never answers a reply before its work is done):

- the CPU work of the requests (--work-us) is spent on the pool's threads
  (named "worker"), and next to none of it on the I/O thread: per-thread
  CPU time from /proc/PID/task;
- while the pool computes a long request, the I/O thread goes on serving:
  a client that connects meanwhile is greeted before the first client's
  reply exists. asio-server, the control, computes on its only I/O thread,
  so there the newcomer's greeting cannot come before the work is done.

    python3 test_asio_server_workers.py PATH/TO/asio-server-workers PATH/TO/asio-server \
        [TestCase.test_name ...]
"""
from __future__ import annotations

import os
import sys
import time
import unittest
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))
from sim_net import Client  # noqa: E402  (the simulator's client: every wait has a timeout)
from sim_server import ServerProcess, sanitizer_report  # noqa: E402

SERVER = ""  # asio-server-workers, from the command line
CONTROL = ""  # asio-server, from the command line
TIMEOUT = 30.0  # seconds: the longest any expected event may take (sanitizer builds are slow)
TICK = 1 / os.sysconf("SC_CLK_TCK")  # the unit of CPU time in /proc/.../stat


def thread_cpu(pid: int) -> Dict[int, Tuple[str, float]]:
    """Each thread of `pid`: its name and its CPU time, s. The time is the
    first field of schedstat (ns on the CPU, the clock cs::spend_cpu reads)
    where the kernel has it, else user + system time from stat (in ticks:
    each thread's may then be short by up to two)."""
    threads = {}
    for task in Path("/proc/%d/task" % pid).iterdir():
        try:
            stat = (task / "stat").read_text()
            try:
                cpu = int((task / "schedstat").read_text().split()[0]) / 1e9
            except (FileNotFoundError, IndexError, ValueError):
                fields = stat[stat.rindex(")") + 2:].split()
                cpu = (int(fields[11]) + int(fields[12])) * TICK
        except (FileNotFoundError, ProcessLookupError):  # the thread has just ended
            continue
        threads[int(task.name)] = (stat[stat.index("(") + 1:stat.rindex(")")], cpu)
    return threads


def cpu_by_role(pid: int) -> Tuple[float, float, int]:
    """(CPU of the "worker" threads, CPU of the other threads, how many workers)."""
    threads = thread_cpu(pid).values()
    workers = [cpu for name, cpu in threads if name == "worker"]
    return sum(workers), sum(cpu for name, cpu in threads if name != "worker"), len(workers)


class ServerTestCase(unittest.TestCase):
    """Starts a server per test; at the end requires a clean exit on SIGTERM
    and no sanitizer report in its log."""

    def start(self, binary: str, protocol: str, *args: str) -> ServerProcess:
        server = ServerProcess([binary, "--port", "0", "--protocol", protocol, *args])
        server.start()
        self.clients: List[Client] = []

        def cleanup() -> None:
            for client in self.clients:
                client.close()
            status = server.stop(TIMEOUT)
            log = server.log()
            server.close()
            self.assertEqual(status, 0, "exit status on SIGTERM; the server's log:\n" + log)
            self.assertIsNone(sanitizer_report(log), "sanitizer report in the log:\n" + log)

        self.addCleanup(cleanup)
        return server

    def connect(self, server: ServerProcess, protocol: str, name: str) -> Client:
        client = Client((server.host, server.port), name, TIMEOUT).connect()
        self.clients.append(client)
        if protocol == "shift":
            client.expect(b"*", "the greeting of " + name)
        return client


def request(protocol: str, text: bytes) -> Tuple[bytes, bytes]:
    """The request carrying `text` and its reply."""
    shifted = bytes(b + 1 for b in text)
    if protocol == "shift":
        return b"^" + text + b"$", shifted
    return len(text).to_bytes(4, "big") + text, len(text).to_bytes(4, "big") + shifted


class WorkRunsOnTheWorkers(ServerTestCase):
    """--threads 1 --workers 2: two clients' requests are computed by the
    worker threads; the I/O thread's CPU time grows by a small part of it."""

    WORK_US = 100_000
    MESSAGES = 2  # per client, each in its own write

    def check(self, protocol: str) -> None:
        server = self.start(SERVER, protocol, "--threads", "1", "--workers", "2",
                            "--work-us", str(self.WORK_US))
        clients = [self.connect(server, protocol, "client %d" % i) for i in range(2)]
        worker_before, io_before, worker_count = cpu_by_role(server.pid)
        self.assertEqual(worker_count, 2, "threads named worker: %r" % thread_cpu(server.pid))
        for client in clients:
            for index in range(self.MESSAGES):
                client.send(request(protocol, b"message %d" % index)[0])
        for client in clients:
            for index in range(self.MESSAGES):
                client.expect(request(protocol, b"message %d" % index)[1], "a reply")
        worker_after, io_after, _ = cpu_by_role(server.pid)
        work = 2 * self.MESSAGES * self.WORK_US / 1e6
        worker_cpu, io_cpu = worker_after - worker_before, io_after - io_before
        print("work asked: %.3f s; CPU of the worker threads %.3f s, of the others %.3f s"
              % (work, worker_cpu, io_cpu))
        # Without schedstat, each worker's time may be short by two ticks.
        self.assertGreaterEqual(worker_cpu, work - 4 * TICK, "the workers did not do the work")
        self.assertLess(io_cpu, work / 4, "the I/O thread did (some of) the work")

    def test_shift(self) -> None:
        self.check("shift")

    def test_framed(self) -> None:
        self.check("framed")


class IOGoesOnDuringWork(ServerTestCase):
    """--threads 1, one request of 1 s of CPU: a client connecting while it
    is computed is greeted (shift's '*') before the first client's reply
    exists with the worker pool, and only after 1 s of work without it."""

    WORK_US = 1_000_000

    def first_then_newcomer(self, binary: str, *args: str) -> Tuple[Client, float]:
        """Sends a request from a first client, waits until the server has
        computed a tenth of it (so the work is under way), then connects a
        second client and waits for its greeting; returns the first client
        and the seconds from the request to the greeting."""
        server = self.start(binary, "shift", "--threads", "1", "--work-us", str(self.WORK_US),
                            *args)
        first = self.connect(server, "shift", "first")
        before = sum(cpu for _, cpu in thread_cpu(server.pid).values())
        sent = time.monotonic()
        first.send(b"^slow$")
        while sum(cpu for _, cpu in thread_cpu(server.pid).values()) - before < self.WORK_US / 1e7:
            self.assertLess(time.monotonic() - sent, TIMEOUT, "the work never began")
            time.sleep(0.01)
        self.connect(server, "shift", "newcomer")
        return first, time.monotonic() - sent

    def test_a_newcomer_is_greeted_while_the_pool_computes(self) -> None:
        first, _ = self.first_then_newcomer(SERVER, "--workers", "1")
        # The reply needs 1 s of the worker's CPU time; the greeting only
        # the I/O thread, which is free.
        self.assertFalse(first.has_data(), "the reply came before the newcomer's greeting")
        first.expect(b"tmpx", "the reply")

    def test_control_without_a_pool_the_newcomer_waits_for_the_work(self) -> None:
        first, waited = self.first_then_newcomer(CONTROL)
        # asio-server computes on its only thread: nothing is greeted until
        # the work (at least 1 s of CPU, so of wall time too) is done.
        self.assertGreaterEqual(waited, self.WORK_US / 1e6, "greeted while the work ran")
        first.expect(b"tmpx", "the reply")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    SERVER = os.path.abspath(sys.argv.pop(1))
    CONTROL = os.path.abspath(sys.argv.pop(1))
    unittest.main()
