#!/usr/bin/env python3
"""idle_clients - the cheapest denial of service against a thread-per-client
server: open N connections and never send a byte.

Each connection the server accepts costs it a thread, which then sits in
recv() forever. The script connects all N without waiting for one before the
next (non-blocking connects, so clients beyond the listen backlog, whose
handshakes the kernel stalls, do not hold up the rest), waits up to --settle
seconds (less once every client was greeted or refused), prints a JSON line
and a line for people saying how many are connected and how many the server
greeted (that is, accepted and serves: the shift protocol's `*`), then
holds them open until --hold seconds pass or it is interrupted (Ctrl-C,
SIGTERM).

With --trickle SECONDS the clients are not silent: from the start, each one
that is connected sends one byte every SECONDS, the bytes of a shift message
that never ends (`^` then `a`, `a`, ...). No idle timeout can close such a
client, since a byte arrived a moment ago; only a limit on how long a request
may take does (--request-timeout-ms). After --hold it says how many of its
connections the server has closed.

Run:  python3 part2_threads/idle_clients.py -n 2000 --address 127.0.0.1:9090
      python3 part2_threads/idle_clients.py -n 150 --trickle 1 --hold 10

Standard library only; Linux (it raises its own descriptor limit if needed).
"""
from __future__ import annotations

import argparse
import json
import resource
import select
import signal
import socket
import sys
import threading
import time
from typing import Dict, List


def raise_descriptor_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def open_idle_connections(host: str, port: int, count: int) -> List[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((host, port))  # EINPROGRESS: completes in the background
        sockets.append(sock)
    return sockets


def survey(sockets: List[socket.socket], settle: float) -> Dict[str, int]:
    """After `settle` seconds (or as soon as every client was greeted or
    failed): how many are connected, were greeted (got a first byte), are
    still connecting (their handshake stalled beyond the listen backlog), or
    failed (refused, reset or closed)."""
    deadline = time.monotonic() + settle
    greeted = failed = 0
    ended = set()
    pending = {sock.fileno(): sock for sock in sockets}
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for fd, _ in poller.poll(int(left * 1000) + 1):
            poller.unregister(fd)
            sock = pending.pop(fd)
            try:
                if sock.recv(1):
                    greeted += 1
                    continue
            except OSError:
                pass
            ended.add(fd)  # EOF, reset or refused
    connected = connecting = 0
    for sock in sockets:
        if sock.fileno() in ended or sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            failed += 1
            continue
        try:
            sock.getpeername()
            connected += 1
        except OSError:
            connecting += 1
    return {"clients": len(sockets), "connected": connected, "greeted": greeted,
            "waiting": connected - greeted, "connecting": connecting, "failed": failed}


def trickle(sockets: List[socket.socket], period: float, stop: threading.Event) -> None:
    """Every `period` seconds, one more byte of an unfinished shift message
    from each connected client, until `stop` is set. A send that fails
    (not connected yet, or closed by the server) is simply skipped."""
    started = set()
    while not stop.wait(period):
        for sock in sockets:
            try:
                sock.send(b"a" if sock.fileno() in started else b"^")
                started.add(sock.fileno())
            except OSError:
                pass


def closed_by_server(sockets: List[socket.socket]) -> int:
    """How many connections the server has closed (EOF or reset), reading
    and discarding whatever replies wait on the others."""
    closed = 0
    for sock in sockets:
        try:
            while sock.recv(65536):
                pass
            closed += 1  # b"": EOF
        except BlockingIOError:
            pass  # open: nothing more to read now
        except OSError:
            closed += 1  # reset, or never connected
    return closed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--clients", type=int, default=100,
                        help="idle connections to open (default 100)")
    parser.add_argument("--address", default="127.0.0.1:9090", help="HOST:PORT of the server")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait, at most, before counting (default 2)")
    parser.add_argument("--hold", type=float, default=None,
                        help="seconds to hold the connections after counting (default: until "
                             "interrupted)")
    parser.add_argument("--trickle", type=float, default=None, metavar="SECONDS",
                        help="send one byte of a never-ending request every SECONDS instead of "
                             "staying silent")
    args = parser.parse_args()
    if args.trickle is not None and not 0.01 <= args.trickle <= 3600:
        parser.error("--trickle must be between 0.01 and 3600 seconds")
    if not 1 <= args.clients <= 60000:
        parser.error("--clients must be between 1 and 60000")
    host, _, port = args.address.rpartition(":")
    host = host.strip("[]")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    raise_descriptor_limit(args.clients + 64)
    sockets = open_idle_connections(host, int(port), args.clients)
    stop_trickle = threading.Event()
    if args.trickle is not None:
        threading.Thread(target=trickle, args=(sockets, args.trickle, stop_trickle),
                         daemon=True).start()
    try:
        counts = survey(sockets, args.settle)
        print(json.dumps(counts))
        print("idle clients: %(clients)d opened: %(greeted)d greeted (served by the server), "
              "%(waiting)d connected but not greeted, %(connecting)d still connecting, "
              "%(failed)d failed" % counts, flush=True)
        if args.hold is None:
            signal.pause()
        else:
            time.sleep(args.hold)
            stop_trickle.set()
            closed = closed_by_server(sockets)
            print(json.dumps({"closed_by_server": closed}))
            print("after %.1f s more: %d of %d closed by the server" % (args.hold, closed,
                                                                      len(sockets)), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stop_trickle.set()
        for sock in sockets:
            sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
