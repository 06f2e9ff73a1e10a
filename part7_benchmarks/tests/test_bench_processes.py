"""Tests of bench_processes: RunningServer against stand-in servers (shell
scripts that print the "listening on" line, or fail to), the line reader,
the /proc readings, and the open-file limit. No real server and no socket.

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
        self.assertIn("did not print 'listening on' within", str(caught.exception))
        self.assertIn("fake/fake-server --port 0 --quiet --protocol shift", str(caught.exception))


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


if __name__ == "__main__":
    unittest.main()
