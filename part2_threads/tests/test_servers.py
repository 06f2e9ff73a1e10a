"""Process tests of part 2's servers: --max-clients admission control
(threaded-server) and graceful shutdown with clients connected (both).

Run by ctest, which passes the binaries in CS_THREADED_SERVER and
CS_PTHREAD_SERVER; by hand:
  CS_THREADED_SERVER=build/.../threaded-server python3 -m unittest -v test_servers
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import unittest

from harness import (ABSENCE_WINDOW, Client, Server, binary, frame, shifted, thread_count,
                     thread_count_becomes)

AT_LIMIT_LOG = r"new clients wait in the backlog"


def idle_thread_count(pid: int) -> int:
    """The threads a server has with no client, measured while exactly one
    client is connected and served (minus its thread). Not measured with no
    client at all: ThreadSanitizer starts a helper thread of its own with the
    first thread the program creates."""
    return thread_count(pid) - 1


class ServerCase:
    """Mixed into a unittest.TestCase: starts the server whose binary the
    environment variable SERVER_VARIABLE names, and connects clients; the
    test's cleanup closes every one of them."""

    SERVER_VARIABLE = ""

    def start(self, *args: str) -> Server:
        server = Server([binary(self.SERVER_VARIABLE), *args])
        self.addCleanup(server.close)
        return server

    def connect(self, server: Server, name: str) -> Client:
        client = Client(server.port, name)
        self.addCleanup(client.close)
        return client


class ThreadedMaxClientsTest(ServerCase, unittest.TestCase):
    """--max-clients N: while N clients are served the server does not
    accept, so the next ones wait in the kernel's backlog (connected, not
    greeted) and are served, in order, as slots free."""

    SERVER_VARIABLE = "CS_THREADED_SERVER"

    def test_an_extra_client_is_greeted_only_after_a_slot_frees(self) -> None:
        server = self.start("--max-clients", "2")
        first = self.connect(server, "first")
        first.expect(b"*")
        second = self.connect(server, "second")
        second.expect(b"*")
        # Both slots are taken by idle clients. The third connects (the
        # kernel completes the handshake) but must not be greeted...
        third = self.connect(server, "third")
        self.assertEqual(third.received_within(ABSENCE_WINDOW), b"",
                         "the third client was served while two clients held both slots")
        server.wait_for_log(AT_LIMIT_LOG)
        self.assertTrue(third.nothing_pending(), "greeted before any slot was free")
        # ...until one of the first two leaves: then its greeting comes.
        first.close()
        third.expect(b"*")
        third.send(b"^abc$de^abte$f")
        third.expect(b"bcdbcuf")
        second.send(b"^xyz$")
        second.expect(b"yz{")
        server.wait_for_log(r"a client left: accepting again")
        server.terminate()
        self.assertEqual(server.wait(), 0)

    def test_idle_clients_beyond_the_limit_do_not_stop_service(self) -> None:
        # N + 1 idle clients against --max-clients N, then one that wants
        # service: it waits behind them, in order, and is served as soon as
        # the slots ahead of it free.
        server = self.start("--max-clients", "2")
        idle = [self.connect(server, "idle%d" % i) for i in range(2)]
        for client in idle:
            client.expect(b"*")
        extra_idle = self.connect(server, "idle-extra")
        worker = self.connect(server, "worker")
        self.assertEqual(extra_idle.received_within(ABSENCE_WINDOW), b"")
        self.assertTrue(worker.nothing_pending())

        idle[0].close()
        extra_idle.expect(b"*")  # first in the backlog, first served
        self.assertEqual(worker.received_within(ABSENCE_WINDOW), b"",
                         "a third client was served while two held the slots")
        idle[1].close()
        worker.expect(b"*")
        worker.send(b"^abc$de^abte$f")
        worker.expect(b"bcdbcuf")
        worker.send(b"xyz^123")
        worker.expect(b"234")
        worker.send(b"25$^ab0000$abab")
        worker.expect(b"36bc1111")
        worker.close()
        extra_idle.close()
        server.terminate()
        self.assertEqual(server.wait(), 0)
        self.assertRegex(server.log(), r"stopped: connections=4 requests=4 ")

    def test_sigterm_while_waiting_for_a_slot_exits_promptly(self) -> None:
        grace_seconds = 5.0
        server = self.start("--max-clients", "1", "--shutdown-grace-ms",
                            str(int(grace_seconds * 1000)))
        served = self.connect(server, "served")
        served.expect(b"*")
        waiting = self.connect(server, "waiting")
        server.wait_for_log(AT_LIMIT_LOG)  # the acceptor now waits for a slot
        stopped_at = time.monotonic()
        server.terminate()
        # The acceptor wakes for the stop at once and closes the listener,
        # which resets the client still in the backlog: that comes while the
        # served client is still within its grace period...
        waiting.expect_end()
        self.assertTrue(served.nothing_pending(),
                        "the served client was cut off before its grace period ended")
        # ...which is still served, and once it leaves the server exits,
        # without waiting out the grace period.
        served.send(b"^ok$")
        served.expect(b"pl")
        served.close()
        self.assertEqual(server.wait(), 0)
        self.assertLess(time.monotonic() - stopped_at, grace_seconds,
                        "the server waited out the grace period with no client left")
        self.assertRegex(server.log(), r"stopped: connections=1 requests=1 ")


    def test_the_idle_clients_tool_counts_what_the_server_serves(self) -> None:
        # The tool of the docs' demonstration, on the smallest case: it must
        # see two clients served and the third connected but not greeted.
        server = self.start("--max-clients", "2", "--quiet")
        completed = subprocess.run(
            [sys.executable, os.path.join(os.environ["CS_REPO_ROOT"], "part2_threads",
                                          "idle_clients.py"),
             "-n", "3", "--address", "127.0.0.1:%d" % server.port, "--settle", "1",
             "--hold", "0"],
            capture_output=True, universal_newlines=True, timeout=30)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        counts = json.loads(completed.stdout.splitlines()[0])
        self.assertEqual(counts, {"clients": 3, "connected": 3, "greeted": 2, "waiting": 1,
                                  "connecting": 0, "failed": 0})
        server.terminate()
        self.assertEqual(server.wait(), 0)

    def test_trickling_clients_beat_the_idle_timeout_but_not_the_request_timeout(self) -> None:
        # The demonstration of docs/part2_threads.md, small: two clients send
        # a byte every 0.1 s. The idle timeout (0.3 s) never fires, because
        # every byte restarts it; the request timeout (0.8 s) closes both.
        def run_tool(*server_args: str) -> int:
            server = self.start("--idle-timeout-ms", "300", "--quiet", *server_args)
            completed = subprocess.run(
                [sys.executable, os.path.join(os.environ["CS_REPO_ROOT"], "part2_threads",
                                              "idle_clients.py"),
                 "-n", "2", "--address", "127.0.0.1:%d" % server.port, "--settle", "0.2",
                 "--hold", "1.5", "--trickle", "0.1"],
                capture_output=True, universal_newlines=True, timeout=30)
            self.assertEqual(completed.returncode, 0, completed.stderr)
            server.terminate()
            self.assertEqual(server.wait(), 0)
            return json.loads(completed.stdout.splitlines()[2])["closed_by_server"]

        self.assertEqual(run_tool(), 0, "the idle timeout closed a client that was sending")
        self.assertEqual(run_tool("--request-timeout-ms", "800"), 2,
                         "the request timeout did not close the trickling clients")


class ShutdownTests(ServerCase):
    """SIGTERM with clients connected: replies already requested are
    delivered, connections are served until they leave or the grace period
    ends, the summary line is printed, the exit status is 0; and the server
    has one thread per client, no more, and none once they are gone."""

    def test_replies_in_flight_are_delivered_after_sigterm(self) -> None:
        grace_seconds = 8.0
        server = self.start("--protocol", "framed", "--shutdown-grace-ms",
                            str(int(grace_seconds * 1000)))
        clients = []
        for index in range(6):
            client = self.connect(server, "client%d" % index)
            request = b"hello %d" % index
            client.send(frame(request))
            client.expect(frame(shifted(request)))  # its thread exists
            clients.append(client)
            if index == 0:
                idle_threads = idle_thread_count(server.pid)
        self.assertEqual(thread_count(server.pid), idle_threads + len(clients),
                         "expected one thread per connected client")

        # A request whose reply is still being sent when SIGTERM comes:
        # 1,024,000 bytes (under the 1 MiB frame limit), more than the socket
        # buffers hold, so the server is blocked mid-send.
        big = bytes(range(256)) * 4000
        sender = threading.Thread(target=clients[0].send, args=(frame(big),), daemon=True)
        sender.start()
        reply = frame(shifted(big))
        clients[0].expect(reply[:4])  # the reply has started
        stopped_at = time.monotonic()
        server.terminate()
        clients[0].expect(reply[4:])
        sender.join(10)
        # During the grace period connections are served as before.
        for client in clients[1:]:
            client.send(frame(b"after the stop"))
            client.expect(frame(shifted(b"after the stop")))
        for client in clients:
            client.close()
        self.assertEqual(server.wait(), 0)
        self.assertLess(time.monotonic() - stopped_at, grace_seconds,
                        "the server waited out the grace period with no client left")
        self.assertRegex(server.log(), r"stopped: connections=6 requests=12 bytes_in=\d+ "
                                       r"bytes_out=\d+")

    def test_the_grace_period_ends_silent_connections(self) -> None:
        grace_seconds = 0.5
        server = self.start("--quiet", "--shutdown-grace-ms", str(int(grace_seconds * 1000)))
        clients = [self.connect(server, "silent%d" % i) for i in range(3)]
        for client in clients:
            client.expect(b"*")
        stopped_at = time.monotonic()
        server.terminate()
        for client in clients:
            client.expect_end()
        self.assertEqual(server.wait(), 0)
        self.assertGreaterEqual(time.monotonic() - stopped_at, grace_seconds * 0.9,
                                "silent clients were cut off before the grace period ended")
        log = server.log()
        self.assertRegex(log, r"stopped: connections=3 requests=0 ")  # even with --quiet
        self.assertNotIn("accepted", log)  # --quiet drops the info lines

    def test_threads_end_with_their_clients(self) -> None:
        server = self.start()
        first = self.connect(server, "first")
        first.expect(b"*")  # sent by the client's thread: it exists now
        idle_threads = idle_thread_count(server.pid)
        first.close()
        self.assertEqual(thread_count_becomes(server.pid, idle_threads), idle_threads)
        for round_number in range(2):
            clients = [self.connect(server, "round%d-%d" % (round_number, i)) for i in range(10)]
            for client in clients:
                client.expect(b"*")
            self.assertEqual(thread_count(server.pid), idle_threads + 10)
            for client in clients:
                client.close()
            self.assertEqual(thread_count_becomes(server.pid, idle_threads), idle_threads,
                             "client threads outlived their clients (round %d)" % round_number)
        server.terminate()
        self.assertEqual(server.wait(), 0)
        self.assertRegex(server.log(), r"stopped: connections=21 ")


class ThreadedShutdownTest(ShutdownTests, unittest.TestCase):
    SERVER_VARIABLE = "CS_THREADED_SERVER"


class PthreadShutdownTest(ShutdownTests, unittest.TestCase):
    SERVER_VARIABLE = "CS_PTHREAD_SERVER"


if __name__ == "__main__":
    unittest.main()
