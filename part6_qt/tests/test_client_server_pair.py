#!/usr/bin/env python3
"""One cell of the client x server matrix: a client tool (qt-client or
asio-client) against a server (a Qt server or asio-server), in one protocol.

    python3 test_client_server_pair.py "SERVER [args]" CLIENT PROTOCOL

The server starts on port 0; the client makes 400 requests over 4
connections, checking every reply; the run passes when the client reports
400 requests and no error, the server counts them too, exits 0 on SIGTERM,
and prints no Qt warning.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

from qt_testing import TIMEOUT, Server

REQUESTS = 400
CLIENTS = 4


def main() -> int:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    server_argv = shlex.split(sys.argv[1]) + ["--port", "0", "--protocol", sys.argv[3]]
    server = Server(server_argv)
    try:
        done = subprocess.run([sys.argv[2], str(server.port), "--host", server.host,
                               "--protocol", sys.argv[3], "--clients", str(CLIENTS),
                               "--requests", str(REQUESTS)],
                              stdin=subprocess.DEVNULL, capture_output=True,
                              universal_newlines=True, timeout=6 * TIMEOUT)
        print(done.stdout + done.stderr)
        totals = json.loads(done.stdout.strip().splitlines()[-1])
        assert done.returncode == 0, "the client exited with status %d" % done.returncode
        assert (totals["requests"], totals["errors"]) == (REQUESTS, 0), totals
        status = server.stop()
        log = server.log()
        assert status == 0, "the server exited with status %d:\n%s" % (status, log)
        served = re.search(r"stopped: connections=(\d+) requests=(\d+)", log)
        assert served and served.groups() == (str(CLIENTS), str(REQUESTS)), \
            "the server's summary disagrees: %s" % (served.group(0) if served else log)
        assert not server.thread_warnings(), "\n".join(server.thread_warnings())
    finally:
        server.kill()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
