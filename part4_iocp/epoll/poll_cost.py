#!/usr/bin/env python3
"""What one wait costs with select(), poll() and epoll, against idle sockets.

docs/part4_epoll.md ("Before epoll: select and poll") quotes this script's
output. It opens N idle TCP connections on loopback plus one whose peer has
sent a byte, so exactly one socket is ready, and times one wait that
returns that one socket:

  select  the whole descriptor set is copied in and scanned, every call
          (and FD_SETSIZE, 1024, caps the descriptor numbers it can take)
  poll    the whole array of N+1 entries is copied in and scanned, every call
  epoll   the interest list lives in the kernel (epoll_ctl once per socket);
          a call looks at the ready list only

The interpreter adds about the same fixed cost to every call (one ready
socket, one result). Python's select() also converts its whole list on each
call, so part of that column's growth is user space; poll()'s growth is the
kernel's scan plus the scan of the results, which a C program pays too.

Usage: poll_cost.py [--idle N ...] [--calls K]
"""
import argparse
import os
import resource
import select
import socket
import sys
import time


def open_pairs(count):
    """count connected loopback TCP pairs: (server side, client side)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    pairs = []
    try:
        while len(pairs) < count:
            batch = min(512, count - len(pairs))  # never more than the backlog
            clients = []
            for _ in range(batch):
                client = socket.socket()
                client.connect(listener.getsockname())
                clients.append(client)
            for client in clients:
                server_side, _ = listener.accept()
                pairs.append((server_side, client))
    finally:
        listener.close()
    return pairs


def per_call(wait, calls):
    """Microseconds per call of wait(), the best of 5 runs of `calls` calls:
    the minimum is the cost without other processes' interference."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            if not wait():
                raise SystemExit("poll_cost: the ready socket was not reported")
        best = min(best, time.perf_counter() - started)
    return best / calls * 1e6


def measure(idle, calls):
    pairs = open_pairs(idle + 1)
    try:
        ready_side, ready_peer = pairs[-1]
        ready_peer.send(b"x")  # never read: stays ready for every call
        sockets = [server_side for server_side, _ in pairs]
        results = {}
        if max(s.fileno() for s in sockets) < 1024:
            results["select"] = per_call(lambda: select.select(sockets, [], [], 1.0)[0], calls)
        poller = select.poll()
        for s in sockets:
            poller.register(s, select.POLLIN)
        results["poll"] = per_call(lambda: poller.poll(1000), calls)
        epoll = select.epoll()
        for s in sockets:
            epoll.register(s.fileno(), select.EPOLLIN)
        results["epoll"] = per_call(lambda: epoll.poll(1.0), calls)
        epoll.close()
        return results
    finally:
        for server_side, client in pairs:
            server_side.close()
            client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, nargs="+", default=[0, 100, 1000, 10000],
                        help="numbers of idle connections to try (default 0 100 1000 10000)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed run")
    args = parser.parse_args()
    if min(args.idle) < 0 or args.calls < 1:
        parser.error("--idle must be >= 0 and --calls >= 1")
    # Two descriptors per connection, both ends in this process.
    needed = 2 * (max(args.idle) + 1) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit("poll_cost: needs %d descriptors, the hard limit is %d (ulimit -Hn)"
                             % (needed, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    print("idle sockets  select (us/call)  poll (us/call)  epoll (us/call)")
    for idle in args.idle:
        r = measure(idle, args.calls)
        select_text = "%.2f" % r["select"] if "select" in r else "n/a (fd >= 1024)"
        print("%12d  %16s  %14.2f  %15.2f" % (idle, select_text, r["poll"], r["epoll"]))
        sys.stdout.flush()
    print("(%s, Python %s, best of 5 runs of %d calls; one socket ready)"
          % (os.uname().release, sys.version.split()[0], args.calls))


if __name__ == "__main__":
    main()
