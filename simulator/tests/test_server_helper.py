# Tests of sim_server: a server is ready when it says so, and every way the
# startup contract can be broken is reported with the server's own words.
from __future__ import annotations

import socket
import sys
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


if __name__ == "__main__":
    unittest.main()
