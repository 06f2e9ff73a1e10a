#!/usr/bin/env python3
"""Every server's default listen backlog is SOMAXCONN, as the kernel caps it.

    python3 tests/test_default_backlog.py BUILD_DIR [TestCase.test_name ...]

Each DefaultBacklog case starts one server of the build on port 0 with its
default settings, reads its listening socket's backlog with `ss` (iproute2;
for a listening socket `ss -ltn` shows the backlog as Send-Q), and expects
min(SOMAXCONN, net.core.somaxconn): SOMAXCONN is what the servers ask for
(common/include/cs/backlog.hpp says why) and the kernel caps it at
somaxconn. A server that asked for less fails; so does one that cannot be
started or is not in the build. The servers are part 7's benchmark registry
(every server of parts 1 to 6) and the three it leaves out.

The CheckSelfTest cases show that the check can fail: stand-in listeners
with a backlog of 128 (small enough for a burst of a few hundred connects
to overflow) and of SOMAXCONN, and a real server given --backlog 128.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import unittest
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "simulator"))
sys.path.insert(0, str(ROOT / "part7_benchmarks"))
from sim_server import ServerError, ServerProcess, sanitizer_report  # noqa: E402
from bench_registry import REGISTRY  # noqa: E402  (every server of parts 1 to 6)

BUILD_DIR = ""  # set from the command line
TIMEOUT = 10.0  # seconds for a server to start, for ss, and for a server to stop

# Servers the benchmarks leave out (they speak protocols of their own, or
# are a variant the benchmarks do not compare), with their paths in the build.
OTHER_SERVERS = {
    "packet-echo-server": "part4_iocp/servers/packet-echo-server",
    "line-server": "part4_iocp/servers/line-server",
    "asio-server-workers": "part5_asio/asio-server-workers",
}
SERVERS = {**{server.name: server.path for server in REGISTRY}, **OTHER_SERVERS}

# A stand-in server for the self-test: listens on 127.0.0.1 with the backlog
# given as its argument, announces itself as every server does, and waits to
# be stopped (SIGTERM ends it with status 0).
STAND_IN = r"""
import signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(int(sys.argv[1]))
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
signal.pause()
"""


def expected_backlog() -> int:
    """min(SOMAXCONN, net.core.somaxconn): what a listen(fd, SOMAXCONN) gets."""
    with open("/proc/sys/net/core/somaxconn", encoding="ascii") as source:
        somaxconn = int(source.read().strip())
    return min(socket.SOMAXCONN, somaxconn)


def listen_backlog(host: str, port: int) -> int:
    """The backlog of the socket listening on host:port (TCP), as `ss` reads
    it from the kernel: the Send-Q of a listening socket."""
    ss = shutil.which("ss")
    if ss is None:
        raise AssertionError("ss not found: install iproute2 (./run setup does)")
    result = subprocess.run([ss, "-ltnH", "sport = :%d" % port], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT)
    if result.returncode != 0:
        raise AssertionError("ss failed (%d): %s" % (result.returncode, result.stderr.strip()))
    local = "%s:%d" % (host, port)
    backlogs = [int(fields[2]) for fields in map(str.split, result.stdout.splitlines())
                if len(fields) >= 4 and fields[0] == "LISTEN" and fields[3] == local]
    if len(backlogs) != 1:
        raise AssertionError("expected one socket listening on %s, ss shows:\n%s"
                             % (local, result.stdout or "(nothing)"))
    return backlogs[0]


def served_backlog(argv: List[str]) -> int:
    """Starts argv (a server, on port 0), reads its listening socket's
    backlog, stops it, and requires a clean exit (status 0, no sanitizer
    report) as every test that runs a server does."""
    server = ServerProcess(argv, TIMEOUT)
    try:
        host, port = server.start()
    except ServerError as error:
        server.close()
        raise AssertionError(str(error)) from None
    try:
        backlog = listen_backlog(host, port)
    finally:
        status, log = server.finish(TIMEOUT)
    if status != 0:
        raise AssertionError("%s exited with status %s after SIGTERM; its log:\n%s"
                             % (server.description, status, log))
    report = sanitizer_report(log)
    if report is not None:
        raise AssertionError("sanitizer report: %s" % report)
    return backlog


def server_argv(name: str, *extra: str) -> List[str]:
    path = os.path.join(BUILD_DIR, SERVERS[name])
    if not os.access(path, os.X_OK):
        raise AssertionError("%s is not in the build (%s): build the whole tree" % (name, path))
    # Nothing but the port: every other setting is the server's default.
    return [path, "--port", "0", *extra]


def too_small(backlog: int) -> Optional[str]:
    """Why `backlog` is not min(SOMAXCONN, net.core.somaxconn), or None."""
    wanted = expected_backlog()
    if backlog == wanted:
        return None
    return ("listen backlog %d, expected %d = min(SOMAXCONN %d, net.core.somaxconn): "
            "the default must be SOMAXCONN (cs::default_backlog), as net.core.somaxconn caps it"
            % (backlog, wanted, socket.SOMAXCONN))


class DefaultBacklog(unittest.TestCase):
    """One case per server (generated below): its default backlog."""


def _case(name: str):
    def test(self: DefaultBacklog) -> None:
        problem = too_small(served_backlog(server_argv(name)))
        if problem is not None:
            self.fail("%s: %s" % (name, problem))
    test.__doc__ = "%s with default settings listens with a backlog of SOMAXCONN." % name
    return test


for _name in SERVERS:
    setattr(DefaultBacklog, "test_" + re.sub(r"\W", "_", _name), _case(_name))


class CheckSelfTest(unittest.TestCase):
    """The check judges a small backlog too small, and SOMAXCONN right."""

    def stand_in(self, backlog: int) -> int:
        return served_backlog([sys.executable, "-c", STAND_IN, str(backlog)])

    def needs_room_above(self, backlog: int) -> None:
        if expected_backlog() <= backlog:
            self.skipTest("net.core.somaxconn is %d here: a backlog of %d is already all it allows"
                          % (expected_backlog(), backlog))

    def test_a_listener_with_backlog_128_is_judged_too_small(self):
        self.needs_room_above(128)
        backlog = self.stand_in(128)
        self.assertEqual(backlog, 128, "ss must show the stand-in's own backlog")
        self.assertIn("listen backlog 128, expected", too_small(backlog) or "")

    def test_a_listener_with_a_backlog_of_somaxconn_passes(self):
        backlog = self.stand_in(socket.SOMAXCONN)
        self.assertEqual(backlog, expected_backlog())
        self.assertIsNone(too_small(backlog))

    def test_a_server_given_backlog_128_is_judged_too_small(self):
        self.needs_room_above(128)
        backlog = served_backlog(server_argv("epoll-server", "--backlog", "128"))
        self.assertEqual(backlog, 128)
        self.assertIsNotNone(too_small(backlog))


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: test_default_backlog.py BUILD_DIR [TestCase.test_name ...]")
    BUILD_DIR = sys.argv[1]
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
