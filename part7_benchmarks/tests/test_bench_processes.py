"""Tests of bench_processes: RunningServer against stand-in servers (shell
scripts that print the "listening on" line, or fail to), the line reader,
the /proc readings, the open-file limit, and IdleClients against stand-in
loadgens. No real server and no socket.

Run: python3 -m unittest discover -s part7_benchmarks/tests -p test_bench_processes.py
"""

import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from bench_testing import make_executable

import bench_processes as processes  # found through the path bench_testing set
from bench_registry import Server

# Prints the ready line a real server prints, then waits to be stopped.
READY_SERVER = '#!/bin/sh\necho "listening on 127.0.0.1:4242"\nexec sleep 30\n'
# Exits at once without the ready line, as a server that cannot bind does.
FAILING_SERVER = '#!/bin/sh\necho "cannot bind" >&2\nexit 1\n'


class RunningServerTest(unittest.TestCase):
    def setUp(self):
        self.build = tempfile.TemporaryDirectory()
        self.addCleanup(self.build.cleanup)

    def server(self, text, **fields):
        make_executable(self.build.name, "fake/fake-server", text)
        return Server("fake-server", 1, "fake/fake-server", "threads", **fields)

    def test_ready_line_gives_the_port_and_stop_sends_sigterm(self):
        server = self.server(READY_SERVER, args=("--threads", "4"))
        with processes.RunningServer(self.build.name, server, "framed", ("--backlog", "10")) as running:
            self.assertEqual(running.port, 4242)
            self.assertEqual(running.pid, running.process.pid)
            self.assertEqual(running.argv, [os.path.join(self.build.name, "fake/fake-server"),
                                            "--port", "0", "--quiet", "--threads", "4",
                                            "--backlog", "10", "--protocol", "framed"])
            self.assertIsNone(running.process.poll())
        self.assertEqual(running.process.returncode, -signal.SIGTERM)
        self.assertEqual(running.stop(), -signal.SIGTERM)  # a second stop is harmless

    def test_the_chat_server_gets_no_protocol_option(self):
        server = self.server(READY_SERVER, protocols=("chat",))
        with processes.RunningServer(self.build.name, server, "chat", prefix=("env",)) as running:
            self.assertEqual(running.argv, ["env", os.path.join(self.build.name, "fake/fake-server"),
                                            "--port", "0", "--quiet"])

    def test_a_server_that_never_says_listening_is_an_error(self):
        server = self.server(FAILING_SERVER)
        with self.assertRaises(RuntimeError) as caught:
            processes.RunningServer(self.build.name, server, "shift")
        self.assertIn("exited before printing 'listening on HOST:PORT'", str(caught.exception))
        self.assertIn("fake/fake-server --port 0 --quiet --protocol shift", str(caught.exception))
        self.assertIn("cannot bind", str(caught.exception), "the error ends with the server's log")

    def test_a_server_that_ignores_sigterm_is_killed_and_the_run_goes_on(self):
        server = self.server('#!/bin/sh\ntrap "" TERM\necho "listening on 127.0.0.1:4242"\n'
                             'while :; do sleep 1; done\n')
        running = processes.RunningServer(self.build.name, server, "shift")
        self.addCleanup(running.close)
        original, processes.SERVER_STOP_TIMEOUT = processes.SERVER_STOP_TIMEOUT, 0.5
        self.addCleanup(setattr, processes, "SERVER_STOP_TIMEOUT", original)
        self.assertEqual(running.stop(), -signal.SIGKILL)


class LineReader(unittest.TestCase):
    def test_lines_then_none_at_end_of_file(self):
        process = subprocess.Popen(["printf", "one\\ntwo\\n"], stdout=subprocess.PIPE, text=True)
        lines = processes.line_reader(process.stdout)
        self.assertEqual([lines.get(timeout=10) for _ in range(3)], ["one\n", "two\n", None])
        process.wait()


class ProcReadings(unittest.TestCase):
    def test_cpu_seconds_of_this_process_grow(self):
        before = processes.cpu_seconds(os.getpid())
        deadline = time.monotonic() + 10
        # Burn CPU until a few clock ticks show (or the deadline passes).
        while processes.cpu_seconds(os.getpid()) < before + 0.05 and time.monotonic() < deadline:
            sum(range(10000))
        self.assertGreater(processes.cpu_seconds(os.getpid()), before + 0.04)

    def test_memory_and_threads_of_this_process(self):
        _, threads_before = processes.memory_and_threads(os.getpid())
        stop = threading.Event()
        helper = threading.Thread(target=stop.wait)
        helper.start()
        try:
            rss, threads = processes.memory_and_threads(os.getpid())
        finally:
            stop.set()
            helper.join()
        self.assertGreater(rss, 1000)  # KiB: an interpreter is more than a megabyte
        self.assertEqual(threads, threads_before + 1)


class OpenFiles(unittest.TestCase):
    def test_a_child_inherits_the_raised_limit(self):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = (processes.OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY
                  else min(processes.OPEN_FILES_WANTED, hard))
        out = subprocess.run(["sh", "-c", "ulimit -n"], capture_output=True, text=True,
                             preexec_fn=processes.raise_open_files, timeout=10).stdout.strip()
        self.assertGreaterEqual(int(out), wanted)


class VethPairNames(unittest.TestCase):
    def test_names_fit_the_kernel_limits(self):
        # Interface names are at most 15 bytes; the pair adds "c" and "s".
        pair = processes.VethPair()
        self.assertLessEqual(len(pair.link + "c"), 15)
        self.assertIn(str(os.getpid()), pair.server_ns)
        self.assertNotEqual(pair.server_ns, pair.client_ns)


# loadgen idle as the runner sees it: says it is ready on stderr, holds until
# SIGTERM, then prints its result; its arguments go to idle-args beside it.
READY_IDLE_LOADGEN = ('#!/bin/sh\necho "$@" > "$(dirname "$0")/idle-args"\n'
                      'trap \'echo "{\\"held_at_end\\": 7, \\"ready\\": 6, '
                      '\\"connect_failures\\": 1}"; exit 0\' TERM\n'
                      'echo "loadgen: ready: holding 7 connections" >&2\n'
                      'while :; do sleep 0.05; done\n')
# One that gives up before it is ready, with a reason on stderr.
FAILING_IDLE_LOADGEN = '#!/bin/sh\necho "loadgen: connect: Connection refused" >&2\nexit 1\n'
# One that never says it is ready (nor exits).
SILENT_IDLE_LOADGEN = '#!/bin/sh\nexec sleep 30\n'


class IdleClientsTest(unittest.TestCase):
    def setUp(self):
        self.build = tempfile.TemporaryDirectory()
        self.addCleanup(self.build.cleanup)

    def loadgen(self, text):
        return make_executable(self.build.name, "loadgen", text)

    def test_it_holds_until_the_block_ends_and_keeps_the_result(self):
        with processes.IdleClients(self.loadgen(READY_IDLE_LOADGEN), 4242, 7, 30) as idle:
            self.assertIsNone(idle.process.poll())  # still holding inside the block
            self.assertIsNone(idle.result)
        self.assertEqual(idle.process.returncode, 0)  # stopped by SIGTERM, printed, exited
        self.assertEqual(idle.result, {"held_at_end": 7, "ready": 6, "connect_failures": 1})
        with open(os.path.join(self.build.name, "idle-args")) as f:
            self.assertEqual(f.read().split(),
                             "idle --port 4242 -c 7 --seconds 0 --connect-timeout 10".split())
        self.assertEqual(idle.stop(), idle.result)  # a second stop is harmless

    def test_no_idle_connection_starts_nothing(self):
        with processes.IdleClients(self.loadgen(FAILING_IDLE_LOADGEN), 4242, 0, 30) as idle:
            self.assertIsNone(idle.process)
        self.assertEqual(idle.result, {"held_at_end": 0, "ready": 0, "connect_failures": 0})

    def test_a_loadgen_that_exits_before_it_is_ready_is_an_error_with_its_message(self):
        with self.assertRaises(RuntimeError) as caught:
            with processes.IdleClients(self.loadgen(FAILING_IDLE_LOADGEN), 4242, 7, 30):
                self.fail("the block ran without the connections")
        self.assertEqual(str(caught.exception), "loadgen idle -c 7 did not report ready within 30 s: "
                         "loadgen: connect: Connection refused")

    def test_a_loadgen_that_never_gets_ready_is_stopped_at_the_deadline(self):
        started = time.monotonic()
        idle = processes.IdleClients(self.loadgen(SILENT_IDLE_LOADGEN), 4242, 7, 0.5)
        with self.assertRaises(RuntimeError) as caught:
            idle.__enter__()
        self.assertLess(time.monotonic() - started, 20)
        self.assertEqual(str(caught.exception), "loadgen idle -c 7 did not report ready within 0.5 s")
        self.assertEqual(idle.process.returncode, -signal.SIGTERM)
        self.assertIsNone(idle.result)


if __name__ == "__main__":
    unittest.main()
