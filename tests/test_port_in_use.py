#!/usr/bin/env python3
"""Every server says the same, useful thing when its port is taken.

    python3 tests/test_port_in_use.py BUILD_DIR [TestCase.test_name ...]

Each PortInUse case holds a port with a listening socket of its own, starts
one server of the build on that port, and expects it to end at once with
status 1 and the line docs/troubleshooting.md prints:

    NAME: error: cannot listen on 127.0.0.1:PORT: Address already in use
    (another process is listening there: stop it, or choose another --port;
    0 picks a free one)

(one line). On Linux the servers listen through two code paths (common's
listen_tcp, which part 4's framework uses too, and Asio's acceptor); the
advice is written once (cs::advice_for_bind_error), and this test keeps it
that way. The servers are test_default_backlog.py's: every server of parts 1
to 6.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_default_backlog import SERVERS  # noqa: E402  (every server of parts 1 to 6)

BUILD_DIR = ""  # set from the command line
TIMEOUT = 10.0  # seconds for a server to give up on the port
ADVICE = ("Address already in use (another process is listening there: stop it, or "
          "choose another --port; 0 picks a free one)")


def held_port(host: str = "127.0.0.1") -> socket.socket:
    """A socket listening on a free port of `host`, without SO_REUSEADDR
    (with or without it, Linux lets no second socket listen there); SkipTest
    where the machine has no such address (an IPv6 loopback, say)."""
    holder = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((host, 0))
    except OSError as error:
        holder.close()
        raise unittest.SkipTest("cannot listen on %s here: %s" % (host, error))
    holder.listen(1)
    return holder


def refusal(name: str, port: int, *extra: str) -> subprocess.CompletedProcess:
    path = os.path.join(BUILD_DIR, SERVERS[name])
    if not os.access(path, os.X_OK):
        raise AssertionError("%s is not in the build (%s): build the whole tree" % (name, path))
    return subprocess.run([path, "--port", str(port), *extra], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT)


class PortInUse(unittest.TestCase):
    """One case per server (generated below)."""


def _case(name: str):
    def test(self: PortInUse) -> None:
        with held_port() as holder:
            port = holder.getsockname()[1]
            result = refusal(name, port)
        self.assertEqual(result.returncode, 1, result.stderr)
        expected = "%s: error: cannot listen on 127.0.0.1:%d: %s" % (name, port, ADVICE)
        self.assertIn(expected, result.stderr.splitlines(), result.stderr)
        self.assertNotIn("listening on", result.stdout)
    test.__doc__ = "%s on a port another socket listens on: status 1 and the advice." % name
    return test


for _name in SERVERS:
    setattr(PortInUse, "test_" + re.sub(r"\W", "_", _name), _case(_name))


class PortInUseIPv6(unittest.TestCase):
    """An IPv6 address is written [::1]:PORT whichever code path listens:
    common's listen_tcp (epoll-server) and Asio's acceptor (asio-server)."""

    def test_the_address_is_bracketed_by_every_listener(self):
        for name in ("epoll-server", "asio-server"):
            with held_port("::1") as holder:
                port = holder.getsockname()[1]
                result = refusal(name, port, "--host", "::1")
            self.assertEqual(result.returncode, 1, result.stderr)
            expected = "%s: error: cannot listen on [::1]:%d: %s" % (name, port, ADVICE)
            self.assertIn(expected, result.stderr.splitlines(), result.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: test_port_in_use.py BUILD_DIR [TestCase.test_name ...]")
    BUILD_DIR = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
