# A small Python server for the simulator's self-tests, following the same
# startup contract as the repository's C++ servers. The "correct" flavour
# (threaded) and "sequential" flavour must pass `check`; every other flavour
# has one deliberate bug that `check` must catch, which proves the suite
# cannot pass vacuously. The protocol logic is written here independently
# of sim_protocols, so the checker's model is not its own oracle.
from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time

RECV_SIZE = 64 * 1024
DEFAULT_MAX_FRAME = 1024 * 1024
DEFAULT_MAX_LINE = 512
BACKLOG = 64
SHUTDOWN_JOIN_SECONDS = 5.0  # how long shutdown waits for the accept loop to return
DELAYED_REPLY_SECONDS = 0.05  # drop-on-half-close: replies lag behind reads
EXIT_ON_RESET_STATUS = 3
PLUS_ONE = bytes((value + 1) % 256 for value in range(256))  # for bytes.translate

FLAVOURS = {
    "correct": "threaded, follows every protocol",
    "sequential": "correct, but serves one client at a time",
    "drop-byte": "drops the last byte of every reply chunk longer than 3 bytes",
    "no-greeting": "shift, line: never sends the greeting",
    "answers-outside": "shift: answers bytes outside messages too",
    "merge-clients": "writes each reply to the most recently accepted connection",
    "no-frame-limit": "framed: answers frames over --max-frame",
    "exit-on-reset": "the whole server exits when a client resets its connection",
    "drop-on-half-close": "closes as soon as the client half-closes, losing queued replies",
    "close-after-first-reply": "closes every connection after its first reply",
    "bad-exit-status": "exits with status 1 on SIGTERM",
    "no-grace": "on SIGTERM closes open connections at once, with no grace period",
    "no-reassembly": "packet, line: forgets an unfinished request at the end of each read",
    "one-per-read": "packet, line: answers only the first request of each read, drops the rest",
    "error-closes-all": "packet, line: a protocol error closes every open connection",
    "exit-on-unfinished": "packet, line: the whole server exits when a client leaves "
                          "mid-request",
    "echo-bad-header": "packet: echoes a header byte 0 or 1 as a packet instead of closing",
    "signed-header": "packet: reads the header as a signed byte, so 128..255 are bad headers",
    "echo-splits-words": "line: ECHO rejoins the words of its text with single spaces",
    "crlf-only": "line: only CRLF ends a line, a bare LF is an ordinary byte",
    "case-sensitive": "line: command words match in upper case only",
    "unknown-closes": "line: an unknown command or an empty line closes the connection",
    "max-line-off-by-one": "line: a line of exactly --max-line bytes is already too long",
    "counts-cr": "line: a CR still waiting for its LF counts towards --max-line",
    "overlong-at-lf": "line: a line over --max-line is noticed only when its LF arrives",
    "limit-partial-only": "line: only an unfinished line is checked against --max-line",
    "quit-stays-open": "line: QUIT is answered but the connection stays open",
    "answers-after-quit": "line: commands after QUIT in the same read are still answered",
}


class ShiftSession:
    """shift: '*' on accept; '^' opens a message, '$' closes it, bytes inside
    are answered +1; bytes outside are ignored."""

    protocol_error = False

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        self.greeting = b"" if flavour == "no-greeting" else b"*"
        self.answer_outside = flavour == "answers-outside"
        self.in_message = False

    def feed(self, data: bytes):
        """Returns (reply bytes, whether to close the connection)."""
        reply = bytearray()
        for byte in data:
            if not self.in_message:
                if byte == ord("^"):
                    self.in_message = True
                elif self.answer_outside:
                    reply.append((byte + 1) % 256)
            elif byte == ord("$"):
                self.in_message = False
            else:
                reply.append((byte + 1) % 256)
        return bytes(reply), False


class FramedSession:
    """framed: 4-byte big-endian length, payload; reply frame of +1 bytes;
    a length over max_frame closes the connection."""

    greeting = b""

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        self.max_frame = None if flavour == "no-frame-limit" else args.max_frame
        self.pending = bytearray()
        self.protocol_error = False

    def feed(self, data: bytes):
        """Returns (reply bytes, whether to close the connection)."""
        self.pending += data
        reply = bytearray()
        while len(self.pending) >= 4:
            (length,) = struct.unpack_from(">I", self.pending)
            if self.max_frame is not None and length > self.max_frame:
                log("frame of %d bytes over the limit of %d: closing" % (length, self.max_frame))
                self.protocol_error = True
                return bytes(reply), True
            if len(self.pending) < 4 + length:
                break
            payload = self.pending[4:4 + length]
            reply += struct.pack(">I", length) + bytes(payload).translate(PLUS_ONE)
            del self.pending[:4 + length]
        return bytes(reply), False


class PacketSession:
    """packet: byte 0 is the whole packet's length n, 2 <= n <= 255; every
    packet is echoed; a header byte of 0 or 1 closes the connection."""

    greeting = b""

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        self.flavour = flavour
        self.pending = bytearray()
        self.protocol_error = False

    def feed(self, data: bytes):
        """Returns (reply bytes, whether to close the connection)."""
        self.pending += data
        reply = bytearray()
        while self.pending:
            length = self.pending[0]
            if self.flavour == "signed-header" and length >= 128:
                length -= 256
            if length < 2:
                if self.flavour == "echo-bad-header" and length >= 0:
                    reply += self.pending[:1]
                    del self.pending[:1]
                    continue
                log("bad packet header %d: closing" % length)
                self.protocol_error = True
                return bytes(reply), True
            if len(self.pending) < length:
                break
            reply += self.pending[:length]
            del self.pending[:length]
            if self.flavour == "one-per-read":
                self.pending.clear()
        if self.flavour == "no-reassembly":
            self.pending.clear()
        return bytes(reply), False


class LineSession:
    """line: '+OK ready' on accept; LF (after an optional CR) ends a line;
    ECHO, NOOP, QUIT in any case; a line over max_line closes."""

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        self.flavour = flavour
        self.greeting = b"" if flavour == "no-greeting" else b"+OK ready\r\n"
        self.limit = args.max_line - (1 if flavour == "max-line-off-by-one" else 0)
        self.ending = b"\r\n" if flavour == "crlf-only" else b"\n"
        self.pending = bytearray()
        self.protocol_error = False

    def feed(self, data: bytes):
        """Returns (reply bytes, whether to close the connection)."""
        self.pending += data
        reply = bytearray()
        quitting = False
        while True:
            end = self.pending.find(self.ending)
            if end < 0:
                break
            line = bytes(self.pending[:end])
            del self.pending[:end + len(self.ending)]
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.limit and self.flavour != "limit-partial-only":
                return bytes(reply) + self.too_long(), True
            answer, close = self.command(line)
            reply += answer
            if close:
                quitting = True
                if self.flavour != "answers-after-quit":
                    return bytes(reply), True
            if self.flavour == "one-per-read":
                self.pending.clear()
        unfinished = len(self.pending)
        if self.pending.endswith(b"\r") and self.flavour != "counts-cr":
            unfinished -= 1  # it may be the CR that the next LF strips
        if unfinished > self.limit and self.flavour != "overlong-at-lf":
            return bytes(reply) + self.too_long(), True
        if self.flavour == "no-reassembly":
            self.pending.clear()
        return bytes(reply), quitting

    def command(self, line: bytes):
        word = line.split(b" ", 1)[0]
        if self.flavour != "case-sensitive":
            word = word.upper()
        if word == b"ECHO":
            text = line[4:]
            if self.flavour == "echo-splits-words":
                text = b"".join(b" " + part for part in text.split(b" ") if part)
            return b"+OK" + text + b"\r\n", False
        if word == b"NOOP":
            return b"+OK\r\n", False
        if word == b"QUIT":
            return b"+OK bye\r\n", self.flavour != "quit-stays-open"
        return b"-ERR unknown command\r\n", self.flavour == "unknown-closes"

    def too_long(self) -> bytes:
        log("line over %d bytes: closing" % self.limit)
        self.protocol_error = True
        return b"-ERR line too long\r\n"


SESSIONS = {"shift": ShiftSession, "framed": FramedSession, "packet": PacketSession,
            "line": LineSession}


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.flavour = args.flavour
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # notified when a connection ends
        self.connections = set()
        self.latest = None  # merge-clients writes here

    def serve_forever(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was shut down: stop accepting
            with self.lock:
                self.connections.add(conn)
                self.latest = conn
            if self.flavour == "sequential":
                self.serve(conn)
            else:
                threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        session = SESSIONS[self.args.protocol](self.flavour, self.args)
        writer = DelayedWriter(conn) if self.flavour == "drop-on-half-close" else None
        replies_sent = 0
        try:
            if session.greeting:
                conn.sendall(session.greeting)
            while True:
                data = conn.recv(RECV_SIZE)
                if not data:
                    if self.flavour == "exit-on-unfinished" and getattr(session, "pending", b""):
                        log("a client left mid-request: exiting (deliberate bug)")
                        os._exit(EXIT_ON_RESET_STATUS)
                    break
                reply, close = session.feed(data)
                if reply:
                    self.write(conn, reply, writer)
                    replies_sent += 1
                if close and session.protocol_error and self.flavour == "error-closes-all":
                    self.close_all(sparing=conn)  # this one closes last, below
                if close or (self.flavour == "close-after-first-reply" and replies_sent):
                    break
        except (ConnectionResetError, BrokenPipeError):
            if self.flavour == "exit-on-reset":
                log("a client reset its connection: exiting (deliberate bug)")
                os._exit(EXIT_ON_RESET_STATUS)
        except OSError:
            pass  # the connection is gone; it concerns this client only
        finally:
            with self.lock:
                self.connections.discard(conn)
                self.changed.notify_all()
            conn.close()

    def write(self, conn: socket.socket, reply: bytes, writer) -> None:
        if self.flavour == "drop-byte" and len(reply) > 3:
            reply = reply[:-1]
        if writer is not None:
            writer.put(reply)
            return
        target = conn
        if self.flavour == "merge-clients":
            with self.lock:
                target = self.latest or conn
        try:
            target.sendall(reply)
        except OSError:
            if target is conn:
                raise  # another client's connection failing is not ours to handle

    def wait_for_connections(self, seconds: float) -> None:
        """Let open connections finish for up to `seconds` (the grace period)."""
        with self.lock:
            self.changed.wait_for(lambda: not self.connections, seconds)

    def close_all(self, sparing=None) -> None:
        with self.lock:
            for conn in list(self.connections):
                if conn is sparing:
                    continue
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class DelayedWriter:
    """Sends replies from its own thread, each after a short delay, so that
    replies are still queued when the client half-closes."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.queue: "queue.Queue[bytes]" = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, reply: bytes) -> None:
        self.queue.put(reply)

    def _run(self) -> None:
        while True:
            reply = self.queue.get()
            time.sleep(DELAYED_REPLY_SECONDS)
            try:
                self.conn.sendall(reply)
            except OSError:
                return


def log(text: str) -> None:
    sys.stderr.write("%s [%d] %s\n" % (time.strftime("%H:%M:%S"), threading.get_ident(), text))
    sys.stderr.flush()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Self-test server for the simulator.")
    parser.add_argument("port_positional", nargs="?", type=int, metavar="PORT")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--protocol", choices=sorted(SESSIONS), default="shift")
    parser.add_argument("--max-frame", type=int, default=DEFAULT_MAX_FRAME)
    parser.add_argument("--max-line", type=int, default=DEFAULT_MAX_LINE)
    parser.add_argument("--flavour", choices=sorted(FLAVOURS), default="correct")
    parser.add_argument("--shutdown-grace-ms", type=int, default=2000)
    args = parser.parse_args()
    if args.port_positional is not None:
        args.port = args.port_positional
    return args


def main() -> int:
    args = parse_arguments()
    server = Server(args)
    listener = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(BACKLOG)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    host, port = listener.getsockname()[:2]
    print("listening on %s:%d" % ("[%s]" % host if ":" in host else host, port), flush=True)
    log("flavour %s, protocol %s" % (args.flavour, args.protocol))
    # Serving happens off the main thread, so the main thread is free to
    # wait for the signal and run the shutdown like the C++ servers do:
    # stop accepting, give open connections a grace period, close the rest.
    acceptor = threading.Thread(target=server.serve_forever, args=(listener,), daemon=True)
    acceptor.start()
    while not stop.wait(3600):
        pass
    log("shutting down")
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
    if args.flavour != "no-grace":
        server.wait_for_connections(args.shutdown_grace_ms / 1000)
    server.close_all()
    acceptor.join(SHUTDOWN_JOIN_SECONDS)
    listener.close()
    return 1 if args.flavour == "bad-exit-status" else 0


if __name__ == "__main__":
    sys.exit(main())
