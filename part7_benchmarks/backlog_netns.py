#!/usr/bin/env python3
"""backlog_netns.py - what clients meet at a full SYN queue or accept queue.

Needs root: it creates two network namespaces joined by a veth pair
(`ip netns add`, `ip link add ... type veth`) and sets TCP sysctls in the
server's namespace. Those sysctls (net.ipv4.tcp_syncookies,
net.ipv4.tcp_abort_on_overflow, net.core.somaxconn) are per network
namespace, so the host's settings are never touched; both namespaces, with
the veth pair, are deleted at the end of each configuration.

The server's namespace has 10.99.0.1, the clients' namespace 10.99.0.2 and
10.99.0.3. In the server's namespace the neighbour (ARP) entry for 10.99.0.3
is set to a wrong MAC address, so what the server sends to 10.99.0.3 never
arrives: a connect() from 10.99.0.3 leaves a half-open connection (a SYN
received, a SYN-ACK sent, no ACK) in the server's SYN queue, the state a
SYN flood creates. Setting the right MAC later lets those handshakes finish.

Each configuration runs one experiment:

  burst          --clients connects from 10.99.0.2 at once: the accept queue
                 fills, and the rest of the burst meets it full.
  syn-flood      first 2 x BACKLOG half-open connects from 10.99.0.3 (the SYN
                 queue fills and stays full), then the burst.
  ack-overflow   first BACKLOG / 2 half-open connects from 10.99.0.3 (the SYN
                 queue is not full), then the burst fills the accept queue,
                 then at 0.5 s the right MAC: the half-open clients' final
                 ACKs now reach a server whose accept queue is full.

and, in each, the server (a listener with listen(BACKLOG)):

  1. calls no accept() for --hold seconds;
  2. then accepts everything that reaches it, greeting each connection
     with `*` (every client waits for it, as a shift client waits for its
     greeting), for --serve seconds;
  3. then every client that is connected but was not greeted sends one byte
     (`^`, the start of a shift message), and is watched --after-send more.

At the end of each phase it records, from the clients' side, how many are
connected (connect() succeeded), greeted (received `*`), reset
(ECONNRESET or ECONNREFUSED), or still connecting (the kernel is still
retransmitting their SYN); from the server's side, the listener's accept
queue (`ss -ltn` Recv-Q) and the connections in SYN-RECV (the SYN queue);
and the server namespace's counters from /proc/net/netstat and
/proc/net/snmp, named as `nstat` names them (a new namespace starts them at
zero, so they count this experiment only).

Usage (as root):
  python3 part7_benchmarks/backlog_netns.py          # every experiment x
                      # tcp_syncookies 0, 1, 2 x tcp_abort_on_overflow 0, 1
  python3 part7_benchmarks/backlog_netns.py --experiment ack-overflow \
      --syncookies 1 --abort-on-overflow 0 1 --verbose
  python3 part7_benchmarks/backlog_netns.py --queue-only --backlog 8 --somaxconn 4
  python3 part7_benchmarks/backlog_netns.py --timing

--queue-only fills the accept queue and reports its length only: how many
connections the kernel completes for listen(BACKLOG) under
net.core.somaxconn = SOMAXCONN before it holds the rest of a burst back.

--timing measures the kernel's retransmission schedules instead: when a
client sends its SYN again while nothing answers, and when connect() gives
up; when a server sends its SYN-ACK again while no ACK comes, and when it
drops the request. It reads the packets on the clients' side of the veth
pair with a packet socket, and takes up to about two and a half minutes.

The page that explains and quotes these runs is docs/backlog.md.
"""

import argparse
import ctypes
import errno
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

SERVER_ADDRESS, CLIENT_ADDRESS, HALF_OPEN_ADDRESS = "10.99.0.1", "10.99.0.2", "10.99.0.3"
WRONG_MAC = "02:00:00:00:00:99"
CLONE_NEWNET = 0x40000000
EXPERIMENTS = ["burst", "syn-flood", "ack-overflow"]
FIX_AT = 0.5  # ack-overflow: seconds before the half-open handshakes may finish

COUNTERS = [
    ("TcpExt", "ListenOverflows"), ("TcpExt", "ListenDrops"),
    ("TcpExt", "TCPReqQFullDoCookies"), ("TcpExt", "TCPReqQFullDrop"),
    ("TcpExt", "SyncookiesSent"), ("TcpExt", "SyncookiesRecv"), ("TcpExt", "SyncookiesFailed"),
    ("TcpExt", "TCPSynRetrans"), ("Tcp", "OutRsts"),
]

# --- namespaces ----------------------------------------------------------------

def sh(*command, check=True):
    return subprocess.run(command, capture_output=True, text=True, check=check)


def in_ns(ns, *command, check=True):
    return sh("ip", "netns", "exec", ns, *command, check=check)


class Namespace:
    """The calling thread enters a namespace with setns(2); sockets created
    there stay in it after the thread leaves."""
    libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self, name):
        self.name = name
        self.fd = os.open(f"/run/netns/{name}", os.O_RDONLY)

    def __enter__(self):
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self._setns(self.fd)
        return self

    def __exit__(self, *exc):
        self._setns(self.home)
        os.close(self.home)

    def _setns(self, fd):
        if self.libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")


def read_counters(ns):
    values = {}
    with ns:
        for path in ("/proc/thread-self/net/netstat", "/proc/thread-self/net/snmp"):
            with open(path) as f:
                lines = f.read().splitlines()
            for names, numbers in zip(lines[0::2], lines[1::2]):
                prefix, names = names.split(":", 1)
                for name, number in zip(names.split(), numbers.split(":", 1)[1].split()):
                    values[f"{prefix}{name}"] = int(number)
    return {f"{p}{n}": values.get(f"{p}{n}", 0) for p, n in COUNTERS}


def listener_queue(ns, port):
    """(Recv-Q, Send-Q) of the listener, and the number of SYN-RECV sockets."""
    out = in_ns(ns.name, "ss", "-Hltn", f"sport = :{port}").stdout.split()
    recv_q, send_q = (int(out[1]), int(out[2])) if len(out) >= 3 else (None, None)
    syn_recv = in_ns(ns.name, "ss", "-Htn", "state", "syn-recv", f"sport = :{port}").stdout
    return recv_q, send_q, len(syn_recv.splitlines())


# --- the server and the clients -------------------------------------------------

class Server(threading.Thread):
    """Accepts nothing until `start_accepting` is set, then accepts everything
    and greets each connection with `*`."""

    def __init__(self, ns, backlog):
        super().__init__(daemon=True)
        with ns:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((SERVER_ADDRESS, 0))
        self.listener.listen(backlog)
        self.port = self.listener.getsockname()[1]
        self.start_accepting = threading.Event()
        self.stop = threading.Event()
        self.accepted = []

    def run(self):
        self.start_accepting.wait()
        self.listener.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            try:
                conn.sendall(b"*")
            except OSError:
                pass
            self.accepted.append(conn)


class Client:
    def __init__(self, ns, kind, source, port):
        self.kind = kind  # "burst" or "half-open"
        with ns:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.bind((source, 0))
        self.state = "connecting"  # connecting, connected, greeted, reset, closed, failed: ...
        self.sent = False
        self.times = {}  # "connected", "greeted", "reset", ...: seconds since the experiment began
        result = self.sock.connect_ex((SERVER_ADDRESS, port))
        if result not in (0, errno.EINPROGRESS):
            self.state = f"failed: {os.strerror(result)}"

    def classify(self):
        if self.state == "connected":
            return "connected, sent a byte, no reply" if self.sent else "connected, not greeted"
        return "still connecting" if self.state == "connecting" else self.state


EPOCH = [0.0]  # time.monotonic() when the experiment began


def mark(client, state):
    client.state = state
    client.times[state.split(":")[0]] = time.monotonic() - EPOCH[0]


def pump(clients, seconds):
    """Advances every client for `seconds`: completes connects, reads greetings."""
    selector = selectors.DefaultSelector()
    for c in clients:
        if c.state == "connecting":
            selector.register(c.sock, selectors.EVENT_WRITE, c)
        elif c.state == "connected":
            selector.register(c.sock, selectors.EVENT_READ, c)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(min(left, 0.05)):
            c = key.data
            if c.state == "connecting":
                error = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                selector.unregister(c.sock)
                if error == 0:
                    mark(c, "connected")
                    selector.register(c.sock, selectors.EVENT_READ, c)
                elif error in (errno.ECONNRESET, errno.ECONNREFUSED):
                    mark(c, "reset")
                else:
                    mark(c, f"failed: {os.strerror(error)}")
                continue
            try:
                data = c.sock.recv(16)
            except ConnectionResetError:
                data = None
            except BlockingIOError:
                continue
            mark(c, "reset" if data is None else "greeted" if data.startswith(b"*") else "closed")
            selector.unregister(c.sock)
    selector.close()


def snapshot(server_ns, server, clients, label):
    counts = {}
    for c in clients:
        key = f"{c.kind}: {c.classify()}"
        counts[key] = counts.get(key, 0) + 1
    recv_q, send_q, syn_recv = listener_queue(server_ns, server.port)
    # When things happened, to 0.1 s: {"burst connected": {"0.0": 9, "7.0": 31}, ...}
    when = {}
    for c in clients:
        for event, t in c.times.items():
            counts_at = when.setdefault(f"{c.kind} {event}", {})
            counts_at[f"{t:.1f}"] = counts_at.get(f"{t:.1f}", 0) + 1
    return {"phase": label, "clients": dict(sorted(counts.items())), "when": when, "accept_queue": recv_q,
            "backlog": send_q, "syn_recv": syn_recv, "counters": read_counters(server_ns)}


def experiment(args, kind, server_ns, client_ns, vs):
    server = Server(server_ns, args.backlog)
    server.start()
    EPOCH[0] = time.monotonic()
    half_open_count = {"burst": 0, "syn-flood": 2 * args.backlog,
                       "ack-overflow": max(1, args.backlog // 2)}[kind]
    half_open = [Client(client_ns, "half-open", HALF_OPEN_ADDRESS, server.port)
                 for _ in range(half_open_count)]
    phases = []
    if half_open:
        pump(half_open, 0.2)
        phases.append(snapshot(server_ns, server, half_open, "t=0.2 s, after the half-open connects"))
    start = EPOCH[0]
    burst = [Client(client_ns, "burst", CLIENT_ADDRESS, server.port) for _ in range(args.clients)]
    clients = half_open + burst
    if kind == "ack-overflow":
        pump(clients, FIX_AT)
        # The right MAC: SYN-ACKs to the half-open clients now arrive, and so do their ACKs.
        mac = in_ns(client_ns.name, "cat", "/sys/class/net/vc/address").stdout.strip()
        in_ns(server_ns.name, "ip", "neigh", "replace", HALF_OPEN_ADDRESS, "lladdr", mac,
              "dev", vs, "nud", "permanent")
    pump(clients, args.hold - (time.monotonic() - start))
    phases.append(snapshot(server_ns, server, clients, f"t={args.hold:g} s, no accept() yet"))
    if not args.queue_only:
        server.start_accepting.set()
        pump(clients, args.serve)
        phases.append(snapshot(server_ns, server, clients,
                               f"t={args.hold + args.serve:g} s, accepting since t={args.hold:g} s"))
        for c in clients:
            if c.state == "connected":
                try:
                    c.sock.send(b"^")
                    c.sent = True
                except OSError:
                    mark(c, "reset")
        pump(clients, args.after_send)
        phases.append(snapshot(server_ns, server, clients,
                               f"t={args.hold + args.serve + args.after_send:g} s, "
                               f"{args.after_send:g} s after the connected, ungreeted clients sent a byte"))
    server.stop.set()
    server.start_accepting.set()
    server.join()
    return phases


class Capture(threading.Thread):
    """A packet socket on `device`, read as packets come: records (seconds
    since `start`, source, destination, flags) of every TCP segment, the
    frames with a wrong destination MAC address included."""

    def __init__(self, ns, device, start):
        super().__init__(daemon=True)
        with ns:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.sock.bind((device, 0))
        self.sock.settimeout(0.05)
        self.start_time, self.seen, self.stop = start, [], threading.Event()
        self.start()

    def run(self):
        while not self.stop.is_set():
            try:
                frame = self.sock.recv(2048)
            except socket.timeout:
                continue
            if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00" or frame[14 + 9] != 6:
                continue
            flags = frame[14 + (frame[14] & 0x0F) * 4 + 13]
            names = "+".join(n for bit, n in ((0x02, "SYN"), (0x10, "ACK"), (0x04, "RST")) if flags & bit)
            self.seen.append((time.monotonic() - self.start_time, socket.inet_ntoa(frame[26:30]),
                              socket.inet_ntoa(frame[30:34]), names))

    def finish(self):
        self.stop.set()
        self.join()
        return self.seen


def timing(args, server_ns, client_ns):
    """When a client retransmits an unanswered SYN and gives up, and when a
    server retransmits an unanswered SYN-ACK and gives up."""
    results = {}
    # The client: its SYNs go to an address whose neighbour entry is a wrong
    # MAC, so nothing answers them.
    in_ns(client_ns.name, "ip", "neigh", "replace", "10.99.0.9", "lladdr", WRONG_MAC, "dev", "vc",
          "nud", "permanent")
    with client_ns:
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(args.timing_limit)
    start = time.monotonic()
    tap = Capture(client_ns, "vc", start)
    try:
        client.connect(("10.99.0.9", 9))
        outcome = "connected"
    except OSError as error:
        outcome = f"{errno.errorcode.get(error.errno, error.errno)} ({error.strerror})" if error.errno else str(error)
    ended = time.monotonic() - start
    seen = tap.finish()
    results["client"] = {"syns_at": [round(t, 2) for t, src, dst, f in seen if f == "SYN"],
                         "connect_ended_at": round(ended, 2), "connect": outcome}
    # The server: a request whose SYN-ACKs never arrive. The client's SYN
    # goes out once; then its own retransmissions are cut off (a wrong MAC
    # for the server on the client's side), so every SYN-ACK the server
    # sends after the first is its timer's.
    server = Server(server_ns, args.backlog)
    with client_ns:
        half_open = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    half_open.setblocking(False)
    half_open.bind((HALF_OPEN_ADDRESS, 0))
    start = time.monotonic()
    tap = Capture(client_ns, "vc", start)
    half_open.connect_ex((SERVER_ADDRESS, server.port))
    time.sleep(0.2)
    in_ns(client_ns.name, "ip", "neigh", "replace", SERVER_ADDRESS, "lladdr", WRONG_MAC, "dev", "vc",
          "nud", "permanent")
    gone = None
    while time.monotonic() - start < args.timing_limit:
        time.sleep(0.5)
        if listener_queue(server_ns, server.port)[2] == 0:
            gone = time.monotonic() - start
            break
    seen = tap.finish()
    results["server"] = {"synacks_at": [round(t, 2) for t, src, dst, f in seen
                                        if f == "SYN+ACK" and src == SERVER_ADDRESS],
                         "request_gone_at": None if gone is None else round(gone, 1)}
    return results


def run_config(args, kind, syncookies, abort):
    tag = os.getpid()
    server_name, client_name = f"cs-backlog-s{tag}", f"cs-backlog-c{tag}"
    sh("ip", "netns", "add", server_name)
    try:
        sh("ip", "netns", "add", client_name)
        sh("ip", "link", "add", "vs", "netns", server_name, "type", "veth", "peer", "name", "vc",
           "netns", client_name)
        in_ns(server_name, "ip", "addr", "add", f"{SERVER_ADDRESS}/24", "dev", "vs")
        in_ns(client_name, "ip", "addr", "add", f"{CLIENT_ADDRESS}/24", "dev", "vc")
        in_ns(client_name, "ip", "addr", "add", f"{HALF_OPEN_ADDRESS}/24", "dev", "vc")
        for name, device in ((server_name, "vs"), (client_name, "vc")):
            in_ns(name, "ip", "link", "set", "lo", "up")
            in_ns(name, "ip", "link", "set", device, "up")
        in_ns(server_name, "ip", "neigh", "replace", HALF_OPEN_ADDRESS, "lladdr", WRONG_MAC,
              "dev", "vs", "nud", "permanent")
        settings = {"net.ipv4.tcp_syncookies": syncookies, "net.ipv4.tcp_abort_on_overflow": abort}
        if args.somaxconn is not None:
            settings["net.core.somaxconn"] = args.somaxconn
        for name, value in settings.items():
            in_ns(server_name, "sysctl", "-qw", f"{name}={value}")
        shown = {name: in_ns(server_name, "sysctl", "-n", name).stdout.strip() for name in (
            "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_syncookies",
            "net.ipv4.tcp_abort_on_overflow", "net.ipv4.tcp_synack_retries")}
        shown["client net.ipv4.tcp_syn_retries"] = in_ns(
            client_name, "sysctl", "-n", "net.ipv4.tcp_syn_retries").stdout.strip()
        if kind == "timing":
            return shown, timing(args, Namespace(server_name), Namespace(client_name))
        return shown, experiment(args, kind, Namespace(server_name), Namespace(client_name), "vs")
    finally:
        sh("ip", "netns", "delete", client_name, check=False)
        sh("ip", "netns", "delete", server_name, check=False)


# --- output ----------------------------------------------------------------------

def short(counters):
    names = {"TcpExtListenOverflows": "Overflows", "TcpExtListenDrops": "Drops",
             "TcpExtTCPReqQFullDoCookies": "ReqQFullDoCookies", "TcpExtTCPReqQFullDrop": "ReqQFullDrop",
             "TcpExtSyncookiesSent": "CookiesSent", "TcpExtSyncookiesRecv": "CookiesRecv",
             "TcpExtSyncookiesFailed": "CookiesFailed", "TcpExtTCPSynRetrans": "SynRetrans",
             "TcpOutRsts": "OutRsts"}
    return " ".join(f"{names[k]}={v}" for k, v in counters.items() if v) or "(all zero)"


def print_result(shown, phases, verbose):
    print("  " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    for phase in phases:
        print(f"  {phase['phase']}:")
        print("    clients: " + "; ".join(f"{n} {state}" for state, n in phase["clients"].items()))
        print(f"    server: accept queue {phase['accept_queue']} (limit {phase['backlog']}), "
              f"SYN-RECV {phase['syn_recv']}; {short(phase['counters'])}")
    if verbose:
        print("  when (seconds since the first connect, to 0.1 s: how many):")
        for event, counts in sorted(phases[-1]["when"].items()):
            print(f"    {event}: " + ", ".join(f"{t} s x{n}" for t, n in sorted(counts.items(), key=lambda i: float(i[0]))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", nargs="+", choices=EXPERIMENTS, default=EXPERIMENTS)
    parser.add_argument("--backlog", type=int, default=8)
    parser.add_argument("--clients", type=int, default=40, help="the burst (default 40)")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds before the server accepts")
    parser.add_argument("--serve", type=float, default=5.0, help="seconds the server then accepts")
    parser.add_argument("--after-send", type=float, default=3.0,
                        help="seconds to watch after the ungreeted clients send a byte")
    parser.add_argument("--syncookies", type=int, nargs="+", choices=[0, 1, 2], default=[0, 1, 2])
    parser.add_argument("--abort-on-overflow", type=int, nargs="+", choices=[0, 1], default=[0, 1])
    parser.add_argument("--somaxconn", type=int, help="net.core.somaxconn in the server's namespace")
    parser.add_argument("--queue-only", action="store_true",
                        help="only fill the accept queue (a burst, no accept) and show its length")
    parser.add_argument("--verbose", action="store_true",
                        help="also print when each client connected, was greeted or reset")
    parser.add_argument("--timing", action="store_true",
                        help="only measure when an unanswered SYN and an unanswered SYN-ACK are "
                             "retransmitted, and when each side gives up (up to --timing-limit s)")
    parser.add_argument("--timing-limit", type=float, default=200.0, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write every phase of every run to this file")
    args = parser.parse_args()
    if not 1 <= args.clients <= 1000 or not 2 <= args.backlog <= 1024:
        parser.error("--clients must be 1..1000 and --backlog 2..1024")
    if not 0 < args.hold <= 60 or not 0 <= args.serve <= 180 or not 0 <= args.after_send <= 60:
        parser.error("--hold and --after-send are seconds, at most 60; --serve at most 180")
    if os.geteuid() != 0:
        print("backlog_netns.py: error: needs root: it creates network namespaces "
              "(ip netns add) and sets TCP sysctls inside them; run it with sudo",
              file=sys.stderr)
        return 1
    # SIGTERM (from timeout, or a test harness) still deletes the namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    runs = []
    if args.timing:
        print(f"kernel {os.uname().release}")
        shown, results = run_config(args, "timing", 1, 0)
        print("  " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        c, v = results["client"], results["server"]
        print(f"  client: SYN sent at {', '.join(f'{t:g}' for t in c['syns_at'])} s; "
              f"connect() ended at {c['connect_ended_at']:g} s: {c['connect']}")
        print(f"  server: SYN-ACK sent at {', '.join(f'{t:g}' for t in v['synacks_at'])} s; "
              f"request gone from the SYN queue at {v['request_gone_at']} s")
        return 0
    print(f"kernel {os.uname().release}; listen backlog {args.backlog}; burst of {args.clients} clients")
    for kind in (["burst"] if args.queue_only else args.experiment):
        for syncookies in ([1] if args.queue_only else args.syncookies):
            for abort in ([0] if args.queue_only else args.abort_on_overflow):
                print(f"\n{kind}: tcp_syncookies={syncookies} tcp_abort_on_overflow={abort}")
                shown, phases = run_config(args, kind, syncookies, abort)
                print_result(shown, phases, args.verbose)
                runs.append({"experiment": kind, "syncookies": syncookies, "abort_on_overflow": abort,
                             "sysctls": shown, "phases": phases})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
