# A small Python server for the simulator's self-tests, following the same
# startup contract as the repository's C++ servers. The "correct" flavour
# (threaded) and "sequential" flavour must pass `check`; every other flavour
# has one deliberate bug that `check` must catch, which proves the suite
# cannot pass vacuously. The protocol logic is written here independently
# of sim_protocols, so the checker's model is not its own oracle.
#
# It also speaks chat (`--protocol chat`, for the hostile suite only): a
# room where every frame goes to every other client, with a bounded outbox
# and a writer thread per member, as chat-server's `--broadcast queue`.
from __future__ import annotations

import argparse
import errno
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
EXIT_AT_EMFILE_STATUS = 4
CHAT_OUTBOX_BYTES = 8 * 1024 * 1024  # chat: unsent bytes a member may have before it is dropped
ACCEPT_BACKOFF_SECONDS = 0.1  # after accept() failed for want of descriptors or memory
REPEAT_INTERVAL_SECONDS = 5.0  # a repeated warning is printed at most once per interval
# accept() errors that pass once clients leave: back off and retry.
EXHAUSTED_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
PLUS_ONE = bytes((value + 1) % 256 for value in range(256))  # for bytes.translate

FLAVOURS = {
    "correct": "threaded, follows every protocol",
    "sequential": "correct, but serves one client at a time",
    "drop-byte": "drops the last byte of every reply chunk longer than 3 bytes",
    "no-greeting": "shift, line: never sends the greeting",
    "answers-outside": "shift: answers bytes outside messages too",
    "merge-clients": "writes each reply to the most recently accepted connection",
    "no-frame-limit": "framed: answers frames over --max-frame; chat: buffers them",
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
    # Bugs only the hostile suite (`simulator hostile`) can see:
    "unbounded-output": "queues replies for a writer thread without limit and keeps reading "
                        "from a client that does not read them (chat: a member's outbox has "
                        "no limit)",
    "global-lock": "chat: the sender's thread writes each frame to every other member "
                   "while holding the room's lock, so one member that does not read stalls "
                   "the room",
    "leak-on-reset": "never closes a connection that the client reset",
    "spin-at-emfile": "retries a failing accept() at once, without backing off",
    "log-flood-at-emfile": "warns about every failing accept(), with no repeat limit",
    "exit-at-emfile": "the whole server exits when accept() runs out of descriptors",
    "no-idle-timeout": "ignores --idle-timeout-ms",
    "idle-from-request": "counts the idle timeout from the last complete request, not from "
                         "the last byte",
    "idle-ignores-sent": "counts the idle timeout from the last byte received only, so a "
                         "client that only reads (a large reply, slowly; chat: the others' "
                         "frames) is closed as idle",
    "no-request-timeout": "ignores --request-timeout-ms",
    "request-timeout-when-idle": "closes a connection --request-timeout-ms after its last "
                                 "complete request even when no request is under way",
    "garbles-on-sigterm": "after SIGTERM, answers (chat: delivers frames) with wrong bytes during "
                          "the grace period",
    "without-request-timeout": "correct, but has no --request-timeout-ms option (an older "
                               "server)",
}


class ShiftSession:
    """shift: '*' on accept; '^' opens a message, '$' closes it, bytes inside
    are answered +1; bytes outside are ignored."""

    protocol_error = False

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        self.greeting = b"" if flavour == "no-greeting" else b"*"
        self.answer_outside = flavour == "answers-outside"
        self.in_message = False
        self.requests = 0  # messages ended so far
        self.partial = False  # any byte since the '$' that ended the last message

    def request_pending(self) -> bool:
        return self.partial

    def feed(self, data: bytes):
        """Returns (reply bytes, whether to close the connection).

        Works on runs of bytes between markers (bytes.find and translate run
        at C speed), so that a client sending tens of MiB gets them served
        as fast as a C++ server would read them: the hostile suite's memory
        cases need the server to keep up with the flood."""
        data = bytes(data)
        reply = bytearray()
        position, ended_at = 0, None
        while position < len(data):
            marker = data.find(b"$" if self.in_message else b"^", position)
            end = len(data) if marker < 0 else marker
            if self.in_message or self.answer_outside:
                reply += data[position:end].translate(PLUS_ONE)
            if marker < 0:
                break
            if self.in_message:
                self.requests += 1
                ended_at = marker + 1
            self.in_message = not self.in_message
            position = marker + 1
        # A request is under way if any byte came after the '$' that ended
        # the last message (even a byte outside a message).
        if ended_at is not None:
            self.partial = ended_at < len(data)
        elif data:
            self.partial = True
        return bytes(reply), False


class BufferedSession:
    """What the sessions that keep an unfinished request share: the bytes
    received and not yet a complete request (`pending`: a request is under
    way while it holds any), whether the connection was closed for a
    protocol error, and how many requests are complete so far."""

    greeting = b""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.protocol_error = False
        self.requests = 0

    def request_pending(self) -> bool:
        return bool(self.pending)


class FrameSession(BufferedSession):
    """Frames of a 4-byte big-endian length and a payload (framed, chat); a
    length over max_frame closes the connection."""

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        super().__init__()
        self.max_frame = None if flavour == "no-frame-limit" else args.max_frame

    def complete_frames(self):
        """Takes each complete frame out of `pending` and yields it (header
        included), counting it; at a length over max_frame it stops, with
        protocol_error set."""
        while len(self.pending) >= 4:
            (length,) = struct.unpack_from(">I", self.pending)
            if self.max_frame is not None and length > self.max_frame:
                log("frame of %d bytes over the limit of %d: closing" % (length, self.max_frame))
                self.protocol_error = True
                return
            if len(self.pending) < 4 + length:
                return
            frame = bytes(self.pending[:4 + length])
            del self.pending[:4 + length]
            self.requests += 1
            yield frame


class FramedSession(FrameSession):
    """framed: 4-byte big-endian length, payload; reply frame of +1 bytes;
    a length over max_frame closes the connection."""

    def feed(self, data: bytes):
        """Returns (reply bytes, whether to close the connection)."""
        self.pending += data
        reply = bytearray()
        for frame in self.complete_frames():
            reply += frame[:4] + frame[4:].translate(PLUS_ONE)
        return bytes(reply), self.protocol_error


class PacketSession(BufferedSession):
    """packet: byte 0 is the whole packet's length n, 2 <= n <= 255; every
    packet is echoed; a header byte of 0 or 1 closes the connection."""

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        super().__init__()  # requests: packets complete so far
        self.flavour = flavour

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
            self.requests += 1
            if self.flavour == "one-per-read":
                self.pending.clear()
        if self.flavour == "no-reassembly":
            self.pending.clear()
        return bytes(reply), False


class LineSession(BufferedSession):
    """line: '+OK ready' on accept; LF (after an optional CR) ends a line;
    ECHO, NOOP, QUIT in any case; a line over max_line closes."""

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        super().__init__()  # requests: lines complete so far
        self.flavour = flavour
        self.greeting = b"" if flavour == "no-greeting" else b"+OK ready\r\n"
        self.limit = args.max_line - (1 if flavour == "max-line-off-by-one" else 0)
        self.ending = b"\r\n" if flavour == "crlf-only" else b"\n"

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
            self.requests += 1
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


class ChatSession(FrameSession):
    """chat: frames as in framed, but each complete frame goes unchanged to
    every other member of the room (Server.room), never back; the sender
    gets no reply. A length over max_frame closes the connection."""

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        super().__init__(flavour, args)
        self.frames = []  # complete frames, header included, for the room to deliver

    def feed(self, data: bytes):
        """Returns (no reply, whether to close the connection)."""
        self.pending += data
        self.frames.extend(self.complete_frames())
        return b"", self.protocol_error

    def take_frames(self):
        frames, self.frames = self.frames, []
        return frames


SESSIONS = {"shift": ShiftSession, "framed": FramedSession, "packet": PacketSession,
            "line": LineSession, "chat": ChatSession}


class ChatRoom:
    """The chat room: join, leave, and broadcast a frame to every member
    but its sender. Each member has an Outbox (a queue and a writer thread);
    one whose outbox holds more than CHAT_OUTBOX_BYTES is dropped, so no
    member that stops reading can stall the others or grow the server."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.flavour = server.flavour
        self.limit = None if self.flavour == "unbounded-output" else CHAT_OUTBOX_BYTES
        self.lock = threading.Lock()
        self.outboxes = {}  # connection -> Outbox (None with global-lock: no writer threads)

    def join(self, conn: socket.socket, on_sent) -> None:
        outbox = None if self.flavour == "global-lock" else Outbox(conn, on_sent)
        with self.lock:
            self.outboxes[conn] = outbox

    def leave(self, conn: socket.socket) -> None:
        with self.lock:
            outbox = self.outboxes.pop(conn, None)
        if outbox is not None:
            outbox.close()

    def broadcast(self, sender: socket.socket, frame: bytes) -> None:
        if self.flavour == "garbles-on-sigterm" and self.server.stopping.is_set():
            frame = frame[:4] + frame[4:].translate(PLUS_ONE)  # each payload byte one too high
        with self.lock:
            for conn, outbox in list(self.outboxes.items()):
                if conn is sender:
                    continue
                if outbox is None:  # global-lock: blocks, lock held, on a member that does not read
                    try:
                        conn.sendall(frame)
                    except OSError:
                        pass
                elif not outbox.put(frame, self.limit):
                    log("dropping a member: its outbox is over %d bytes" % self.limit)
                    del self.outboxes[conn]
                    outbox.drop()


class Outbox:
    """One chat member's frames waiting to be sent, and the writer thread
    that sends them (the only thread that writes to its socket)."""

    def __init__(self, conn: socket.socket, on_sent) -> None:
        self.conn = conn
        self.on_sent = on_sent
        self.queue: "queue.Queue" = queue.Queue()
        self.lock = threading.Lock()
        self.queued_bytes = 0
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, frame: bytes, limit) -> bool:
        """Queue `frame`; False (nothing queued) if that would pass `limit`."""
        with self.lock:
            if limit is not None and self.queued_bytes + len(frame) > limit:
                return False
            self.queued_bytes += len(frame)
        self.queue.put(frame)
        return True

    def close(self) -> None:
        self.queue.put(None)

    def drop(self) -> None:
        """Cut the member off: a reset, which also wakes its reader thread."""
        self.close()
        try:
            self.conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _run(self) -> None:
        while True:
            frame = self.queue.get()
            if frame is None:
                return
            try:
                self.conn.sendall(frame)
            except OSError:
                return
            with self.lock:
                self.queued_bytes -= len(frame)
            self.on_sent()


class Deadlines:
    """--idle-timeout-ms and --request-timeout-ms of one connection.

    Idle: no byte received or sent for the limit. Request: a request under
    way (any byte since the last complete one) not complete within the limit
    of its first byte. A session without request_pending() never has one
    under way.
    """

    def __init__(self, flavour: str, args: argparse.Namespace) -> None:
        self.flavour = flavour
        self.idle = 0.0 if flavour == "no-idle-timeout" else args.idle_timeout_ms / 1000
        self.request = 0.0 if flavour == "no-request-timeout" else args.request_timeout_ms / 1000
        now = time.monotonic()
        self.last_activity = now
        self.last_request_done = now
        self.request_started = None
        self.requests_seen = 0

    def received(self, session) -> None:
        now = time.monotonic()
        requests = getattr(session, "requests", 0)
        pending = session.request_pending() if hasattr(session, "request_pending") else False
        finished_one = requests != self.requests_seen
        if self.flavour != "idle-from-request" or finished_one:
            self.last_activity = now
        if finished_one:
            self.last_request_done = now
        if not pending:
            self.request_started = None
        elif self.request_started is None or finished_one:
            self.request_started = now  # a request began in this chunk
        self.requests_seen = requests

    def sent(self) -> None:
        if self.flavour not in ("idle-from-request", "idle-ignores-sent"):
            self.last_activity = time.monotonic()

    def next_deadline(self):
        """(time, reason) of the first deadline to come, or None."""
        deadlines = []
        if self.idle:
            deadlines.append((self.last_activity + self.idle, "idle timeout"))
        if self.request:
            if self.flavour == "request-timeout-when-idle":
                deadlines.append((self.last_request_done + self.request, "request timeout"))
            elif self.request_started is not None:
                deadlines.append((self.request_started + self.request, "request timeout"))
        return min(deadlines) if deadlines else None

    def socket_timeout(self):
        """The timeout for the next socket call: None (block) without a deadline."""
        deadline = self.next_deadline()
        return None if deadline is None else max(0.001, deadline[0] - time.monotonic())


class DeadlinePassed(Exception):
    """A deadline of Deadlines passed while a reply was being sent."""


def send_within_deadlines(conn: socket.socket, data: bytes, deadlines: Deadlines) -> None:
    """Send all of `data`, as much as the kernel takes at a time: each
    partial send is bytes sent, which restart the idle clock (sendall's
    timeout would bound the whole reply instead, and close a client that
    reads a large one slowly). Raises DeadlinePassed when a deadline passes
    with nothing sent."""
    view = memoryview(data)
    while view:
        conn.settimeout(deadlines.socket_timeout())
        try:
            sent = conn.send(view)
        except socket.timeout:
            deadline = deadlines.next_deadline()
            if deadline is not None and deadline[0] <= time.monotonic():
                raise DeadlinePassed(deadline[1]) from None
            continue  # moved meanwhile
        deadlines.sent()
        view = view[sent:]


class RepeatLimiter:
    """Prints a repeated warning at most once per interval, with a count of
    the ones it held back (as the C++ servers' cs::RepeatLimiter)."""

    def __init__(self, interval: float = REPEAT_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.next_allowed = 0.0
        self.dropped = 0

    def warn(self, text: str) -> None:
        now = time.monotonic()
        if now < self.next_allowed:
            self.dropped += 1
            return
        if self.dropped:
            text += " (%d more in the last %g s)" % (self.dropped, self.interval)
        log("warn: " + text)
        self.next_allowed = now + self.interval
        self.dropped = 0


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.flavour = args.flavour
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # notified when a connection ends
        self.connections = set()
        self.latest = None  # merge-clients writes here
        self.stopping = threading.Event()  # set on SIGTERM
        self.leaked = []  # leak-on-reset keeps its sockets open here
        self.accept_warnings = RepeatLimiter()
        self.room = ChatRoom(self) if args.protocol == "chat" else None

    def serve_forever(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError as error:
                if error.errno in EXHAUSTED_ERRNOS and not self.stopping.is_set():
                    self.accept_exhausted(error)
                    continue
                return  # the listener was shut down: stop accepting
            with self.lock:
                self.connections.add(conn)
                self.latest = conn
            if self.flavour == "sequential":
                self.serve(conn)
            else:
                threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def accept_exhausted(self, error: OSError) -> None:
        """accept() failed for want of descriptors (or memory): wait for
        clients to leave, warning at most once per interval."""
        text = "accept: %s; retrying in %d ms" % (error.strerror, ACCEPT_BACKOFF_SECONDS * 1000)
        if self.flavour == "exit-at-emfile":
            log("%s: exiting (deliberate bug)" % error.strerror)
            os._exit(EXIT_AT_EMFILE_STATUS)
        if self.flavour == "spin-at-emfile":
            return  # straight back into accept(): a busy loop
        if self.flavour == "log-flood-at-emfile":
            log("warn: " + text)
        else:
            self.accept_warnings.warn(text)
        time.sleep(ACCEPT_BACKOFF_SECONDS)

    def serve(self, conn: socket.socket) -> None:
        session = SESSIONS[self.args.protocol](self.flavour, self.args)
        writer = None
        if self.flavour == "drop-on-half-close":
            writer = DelayedWriter(conn, DELAYED_REPLY_SECONDS)
        elif self.flavour == "unbounded-output":
            writer = DelayedWriter(conn, 0)
        deadlines = Deadlines(self.flavour, self.args)
        replies_sent = 0
        leaked = False
        if self.room is not None:  # joins before it reads
            self.room.join(conn, on_sent=deadlines.sent)
        try:
            if session.greeting:
                conn.sendall(session.greeting)
            while True:
                conn.settimeout(deadlines.socket_timeout())
                try:
                    data = conn.recv(RECV_SIZE)
                except socket.timeout:
                    deadline = deadlines.next_deadline()
                    if deadline is not None and deadline[0] > time.monotonic():
                        continue  # moved meanwhile (chat: a frame was sent to this member)
                    log("closing: %s" % (deadline[1] if deadline else "timed out"))
                    break
                if not data:
                    if self.flavour == "exit-on-unfinished" and getattr(session, "pending", b""):
                        log("a client left mid-request: exiting (deliberate bug)")
                        os._exit(EXIT_ON_RESET_STATUS)
                    break
                reply, close = session.feed(data)
                if self.room is not None:
                    for frame in session.take_frames():
                        self.room.broadcast(conn, frame)
                deadlines.received(session)
                if reply:
                    self.write(conn, reply, writer, deadlines)
                    deadlines.sent()
                    replies_sent += 1
                if close and session.protocol_error and self.flavour == "error-closes-all":
                    self.close_all(sparing=conn)  # this one closes last, below
                if close or (self.flavour == "close-after-first-reply" and replies_sent):
                    break
        except DeadlinePassed as passed:
            log("closing: %s (while sending)" % passed)
        except (ConnectionResetError, BrokenPipeError):
            if self.flavour == "exit-on-reset":
                log("a client reset its connection: exiting (deliberate bug)")
                os._exit(EXIT_ON_RESET_STATUS)
            if self.flavour == "leak-on-reset":
                self.leaked.append(conn)  # referenced, so never closed
                leaked = True
        except OSError:
            pass  # the connection is gone; it concerns this client only
        finally:
            if self.room is not None:
                self.room.leave(conn)
            with self.lock:
                self.connections.discard(conn)
                self.changed.notify_all()
            if not leaked:
                conn.close()

    def write(self, conn: socket.socket, reply: bytes, writer, deadlines: "Deadlines") -> None:
        if self.flavour == "drop-byte" and len(reply) > 3:
            reply = reply[:-1]
        if self.flavour == "garbles-on-sigterm" and self.stopping.is_set():
            reply = bytes(reply).translate(PLUS_ONE)  # each byte one too high
        if writer is not None:
            writer.put(reply)
            return
        target = conn
        if self.flavour == "merge-clients":
            with self.lock:
                target = self.latest or conn
        if target is conn:
            send_within_deadlines(conn, reply, deadlines)
            return
        try:
            target.sendall(reply)
        except OSError:
            pass  # another client's connection failing is not ours to handle

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
    """Sends replies from its own thread, each after `delay` seconds, so that
    replies are still queued when the client half-closes; with no delay, it
    is an output queue without a limit (the reader never waits for it)."""

    def __init__(self, conn: socket.socket, delay: float) -> None:
        self.conn = conn
        self.delay = delay
        self.queue: "queue.Queue[bytes]" = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def put(self, reply: bytes) -> None:
        self.queue.put(reply)

    def _run(self) -> None:
        while True:
            reply = self.queue.get()
            if self.delay:
                time.sleep(self.delay)
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
    parser.add_argument("--idle-timeout-ms", type=int, default=0)
    parser.add_argument("--request-timeout-ms", type=int)
    args = parser.parse_args()
    if args.request_timeout_ms is not None and args.flavour == "without-request-timeout":
        parser.error("unrecognized arguments: --request-timeout-ms")
    if args.request_timeout_ms is None:
        args.request_timeout_ms = 0
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
    server.stopping.set()
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
    if args.flavour != "no-grace":
        server.wait_for_connections(args.shutdown_grace_ms / 1000)
    server.close_all()
    acceptor.join(SHUTDOWN_JOIN_SECONDS)
    listener.close()
    return 1 if args.flavour == "bad-exit-status" else 0


if __name__ == "__main__":
    sys.exit(main())
