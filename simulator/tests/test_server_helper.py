# Tests of sim_server: a server is ready when it says so, and every way the
# startup contract can be broken is reported with the server's own words.
from __future__ import annotations

import os
import resource
import socket
import sys
import time
import unittest

from sim_server import ServerError, ServerProcess, server_command

from .support import TEST_SERVER

SHORT_TIMEOUT = 1.0


def python_server(code: str) -> list:
    """argv of a stand-in server written as a line of Python."""
    return [sys.executable, "-c", code]


class ServerProcessTest(unittest.TestCase):
    def test_start_connect_and_stop(self):
        server = ServerProcess(server_command(str(TEST_SERVER), "shift"))
        try:
            host, port = server.start()
            self.assertGreater(port, 0)
            with socket.create_connection((host, port), timeout=5) as client:
                self.assertEqual(client.recv(1), b"*")
            self.assertEqual(server.stop(), 0)
        finally:
            server.close()

    def test_early_exit_reports_status_and_stderr(self):
        server = ServerProcess(python_server(
            "import sys; sys.stderr.write('cannot bind: address in use\\n'); sys.exit(7)"))
        try:
            with self.assertRaises(ServerError) as caught:
                server.start()
        finally:
            server.close()
        message = str(caught.exception)
        self.assertIn("exited before printing", message)
        self.assertIn("exit status: 7", message)
        self.assertIn("cannot bind: address in use", message)

    def test_silent_server_times_out(self):
        server = ServerProcess(python_server("import time; time.sleep(60)"),
                               ready_timeout=SHORT_TIMEOUT)
        try:
            with self.assertRaises(ServerError) as caught:
                server.start()
        finally:
            server.close()
        self.assertIn("did not print 'listening on HOST:PORT' within 1.0 s", str(caught.exception))

    def test_wrong_ready_line_is_reported(self):
        server = ServerProcess(python_server("print('ready!', flush=True)"))
        try:
            with self.assertRaises(ServerError) as caught:
                server.start()
        finally:
            server.close()
        self.assertIn("expected 'listening on HOST:PORT'", str(caught.exception))

    def test_server_ignoring_sigterm_is_killed(self):
        server = ServerProcess(python_server(
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('listening on 127.0.0.1:1', flush=True); time.sleep(60)"))
        try:
            self.assertEqual(server.start(), ("127.0.0.1", 1))
            with self.assertRaises(ServerError) as caught:
                server.stop(timeout=SHORT_TIMEOUT)
        finally:
            server.close()
        self.assertIn("did not exit within 1.0 s of SIGTERM and was killed", str(caught.exception))


class ServerProcessLogTest(unittest.TestCase):
    """What the chapters' tests use: the log as lines that can be waited
    for, the stdout after the listening line, stdin, env and preexec_fn."""

    def start(self, code: str, **options) -> ServerProcess:
        server = ServerProcess(python_server(code), **options)
        self.addCleanup(server.close)
        server.start()
        return server

    def test_a_log_line_written_later_is_waited_for(self):
        server = self.start(
            "import sys, time; print('listening on 127.0.0.1:1', flush=True); "
            "sys.stderr.write('first\\n'); sys.stderr.flush(); time.sleep(0.2); "
            "sys.stderr.write('second 42\\n'); sys.stderr.flush(); time.sleep(60)")
        match = server.wait_for_log(r"second (\d+)", timeout=10)
        self.assertIsNotNone(match)
        self.assertEqual(match.group(1), "42")
        self.assertEqual(server.find_log(r"second", 0)[0], 1)
        self.assertEqual(server.log_lines(), ["first", "second 42"])
        self.assertEqual(server.count_log_lines(r"^(first|second)"), 2)
        self.assertIsNone(server.wait_for_log(r"third", timeout=0.1))

    def test_waiting_for_a_line_ends_when_the_server_exits(self):
        server = self.start("print('listening on 127.0.0.1:1', flush=True)")
        self.assertEqual(server.wait(10), 0)
        started = time.monotonic()
        self.assertIsNone(server.wait_for_log(r"never", timeout=30))
        self.assertLess(time.monotonic() - started, 5, "waited for a dead server's log")

    def test_the_log_outlives_close(self):
        server = self.start(
            "import sys; print('listening on 127.0.0.1:1', flush=True); "
            "sys.stderr.write('bye\\n')")
        self.assertEqual(server.wait(10), 0)
        server.close()
        self.assertEqual(server.log(), "bye")

    def test_stdout_after_the_listening_line_stdin_env_and_preexec(self):
        server = self.start(
            "import os, sys; print('listening on 127.0.0.1:1', flush=True); "
            "import resource; "
            "print(os.environ['CS_TEST_VALUE'], resource.getrlimit(resource.RLIMIT_NOFILE)[0], "
            "flush=True); sys.stdin.read(); print('stdin closed', flush=True)",
            env={**os.environ, "CS_TEST_VALUE": "from env"}, stdin_pipe=True,
            preexec_fn=lambda: resource.setrlimit(
                resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
        self.assertEqual(server.stdout_line(10), "from env 64\n")
        self.assertIsNone(server.stdout_line(0.1))
        server.close_stdin()
        self.assertEqual(server.stdout_line(10), "stdin closed\n")
        self.assertEqual(server.wait(10), 0)
        self.assertIsNone(server.stdout_line(10))  # the end of its output


if __name__ == "__main__":
    unittest.main()
