# The hostile-client cases (see sim_hostile.py for how they run). Each one
# starts a fresh server with the options it needs, attacks it the way a
# careless or malicious client would, and requires properties that can be
# observed from outside: the attacker's connection closed (or not) at the
# right time, a bystander client served correctly throughout, and the
# server's memory, descriptors, CPU time and log lines kept in bounds.
#
# Every case speaks the protocol under test through that protocol's pieces,
# gathered in the section "what each protocol's attack is made of": the
# request a bystander sends, how a flood of requests is built, what a
# trickled request that never completes is. Chat differs most (a frame goes
# to the other clients, never back to its sender): its clients are in
# sim_hostile_chat, and "served" means a frame reached the other client of
# a pair.
from __future__ import annotations

import random
import re
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

# The packet and line modules register their probes (see run_probe).
import sim_cases_line  # noqa: F401
import sim_cases_packet  # noqa: F401
from sim_cases_common import exchange, expect_greeting, model_for, sample_request
from sim_cases_framed import payload_bytes
from sim_cases_shift import message_body
from sim_hostile_chat import (ChatLoadPair, ChatMember, ChatModel, ChatPair, chat_payload,
                              chat_probe, join)
from sim_hostile_process import (MIB, TCP_ESTABLISHED, ConnectionWatch, MemoryWatch,
                                 SocketQueues, wait_until)
from sim_hostile_registry import CHAT, LoadThread, Setup, Target, hostile_case, stderr_block
from sim_net import CaseFailure, Client, abbreviate, describe_mismatch
from sim_protocols import (DEFAULT_MAX_FRAME, DEFAULT_MAX_LINE, FRAMED, LINE, MAX_PACKET, PACKET,
                           SHIFT, encode_frame, encode_header, encode_packet, frame_reply,
                           new_model, shift_message)
from sim_registry import run_probe
from sim_server import describe_status

# -- huge-header-flood: a header announcing nearly 4 GiB, then a flood.
FLOOD_ANNOUNCED = 0xFFFF_FFF0
FLOOD_BYTES = 32 * MIB
FLOOD_BUDGET = 3.0  # seconds the flood may last
FLOOD_MEMORY_LIMIT = 16 * MIB
# -- big-message-never-reads: 64 MiB of request, not one reply byte read.
BIG_MESSAGE_BYTES = 64 * MIB
# line: the flood is many valid ECHO lines of this many bytes of text each
# (a line over --max-line would only be refused and closed).
LINE_FLOOD_TEXT = 500
FLOOD_UNIT_REQUESTS = 256  # packet, line: requests per unit of the flood
BIG_MESSAGE_BUDGET = 4.0  # seconds of sending at most
BIG_MESSAGE_MEMORY_LIMIT = 32 * MIB
# The sender's receive buffer, kept small (setting it turns off the
# kernel's autotuning, which could otherwise soak up tens of MiB of
# replies that should pile up, or not, in the server).
NON_READER_RCVBUF = 64 * 1024
# A send that makes no progress for this long means the server stopped
# reading (the kernel buffers between us are full).
STALL_SECONDS = 0.5
# After the sending ends, a server may still be working through what the
# kernel buffered: memory is watched until it has not grown for
# MEMORY_QUIET seconds (at most MEMORY_SETTLE_LIMIT).
MEMORY_QUIET = 0.3
MEMORY_SETTLE_LIMIT = 2.0
# -- garbage-then-reset
GARBAGE_CONNECTIONS = 300
GARBAGE_BATCH = 50  # a probe after each batch paces the attack (see the case)
GARBAGE_MAX_BYTES = 2048
GARBAGE_SEED = 20240601
DESCRIPTOR_SLACK = 4
DESCRIPTOR_SETTLE = 3.0  # seconds the server gets to close what the resets left
# -- descriptor-exhaustion
NOFILE_LIMIT = 64
LOAD_CONNECTIONS = 200
LOAD_SETTLE_QUIET = 0.3  # the descriptor count must hold still this long...
LOAD_SETTLE_LIMIT = 3.0  # ...within this many seconds
EXHAUSTION_WINDOW = 3.0  # seconds the server spends at its limit, watched
EXHAUSTION_CPU_LIMIT = 0.5  # CPU seconds it may use in that window
EXHAUSTION_WARNING_LIMIT = 3  # accept/descriptor warning lines it may print then
# The lines that count: about accept() or descriptors, whatever the level
# word, but not the info line "accepted PEER" a server may print per client.
EXHAUSTION_WARNING = re.compile(r"accept(?!ed)|descriptor|too many open files|emfile", re.I)
# -- idle-timeout
IDLE_TIMEOUT_MS = 600
EARLY_MARGIN = 0.05  # seconds a close may come before its timeout (clock granularity)
CLOSE_DEADLINE = 2.5  # seconds after which a due close counts as never
TRICKLE_INTERVAL = 0.15
TRICKLE_DURATION = 1.5
TRICKLED_FRAME = 100 * 1000  # the frame a framed trickler never finishes in time
TRICKLED_FRAME_PIECE = 4  # bytes per trickled send
TRICKLED_PACKET = 200  # the packet a packet trickler announces in its header
# -- slow-reader
SLOW_READER_IDLE_MS = IDLE_TIMEOUT_MS
SLOW_READER_PAYLOAD = DEFAULT_MAX_FRAME  # the largest frame the default --max-frame accepts
# The reader's socket options, set before it connects: a small receive
# window, and small segments. Linux sizes a sender's send buffer from its
# congestion window times the segment size (and grows it with the
# transfer): with loopback's 64 kB segments the server's kernel would take
# the whole 1 MiB reply at once, and the server would have nothing left to
# write; with 1 kB segments it takes ~100 kB at first.
SLOW_READER_RCVBUF = 16 * 1024
SLOW_READER_MSS = 1024
SLOW_READER_TICK = 0.01  # seconds between two looks at the connection's kernel queues
# The reader reads only when the server has not been seen writing for this
# long (a third of the timeout: it leaves the server 2/3 of it to spare),
# SLOW_READER_READ bytes at most between two looks.
SLOW_READER_NUDGE = SLOW_READER_IDLE_MS / 1000 / 3
SLOW_READER_READ = 16 * 1024
SLOW_READER_NOISE = 16 * 1024  # what a look may be off by, beyond a window (see SlowReader)
# The server must be seen writing the reply for at least this long after
# the request, or the attempt cannot tell a server whose idle clock counts
# received bytes only (it closes a timeout after the request) from one that
# counts both; such an attempt is repeated, SLOW_READER_ATTEMPTS in all.
SLOW_READER_MIN_SPAN = SLOW_READER_IDLE_MS / 1000 / 3
SLOW_READER_ATTEMPTS = 3
# Once silent, the client must be closed within the timeout, a sweep's
# granularity (part 4's framework sweeps every quarter of it) and slack.
SLOW_READER_CLOSE_DEADLINE = SLOW_READER_IDLE_MS / 1000 * 1.25 + 1.0
# chat: a frame of SLOW_READER_STREAM_TEXT bytes every INTERVAL seconds, for
# twice the idle timeout, to a member that never sends.
SLOW_READER_STREAM_INTERVAL = 0.1
SLOW_READER_STREAM_FRAMES = round(2 * SLOW_READER_IDLE_MS / 1000 / SLOW_READER_STREAM_INTERVAL)
SLOW_READER_STREAM_TEXT = 4096
# -- request-timeout
REQUEST_TIMEOUT_MS = 800
SLOW_BYTE_INTERVAL = 0.1
REQUEST_PAUSE = 1.2  # seconds between two complete requests (longer than the timeout)
# -- sigterm-under-load
LOAD_CLIENTS = 8
SHUTDOWN_GRACE_MS = 1000
EXIT_SLACK = 2.0  # seconds beyond the grace period the server may take to exit
LOAD_BEFORE_SIGTERM = 0.5  # seconds of load before SIGTERM, from the first reply on
LOAD_REQUEST_MAX = 4000  # bytes of body in a load request
# -- bystander
BYSTANDER_MIN_ROUNDS = 5
BYSTANDER_PAUSE = 0.01  # seconds between two of its round trips


# ------------------------------------------------------ shared pieces

def probe(target: Target, client_name: str, senders=()) -> None:
    """Require that a fresh client is served: check's probe of the protocol,
    or for chat a fresh pair exchanging a frame (which may also receive
    frames from `senders`, the case's own clients still in the room)."""
    if target.ctx.protocol == CHAT:
        chat_probe(target.ctx, client_name, senders)
    else:
        run_probe(target.ctx, client_name)


def warm_up(target: Target) -> None:
    """One correct exchange before measuring anything, so that what a server
    allocates for its first client (buffers, an io_uring, a thread) is part
    of the baseline, not of the growth."""
    probe(target, "warm-up")


def hostile_model(protocol: str):
    """What a server of `protocol` answers a client's own bytes: the
    reference model, or for chat nothing (ChatModel)."""
    return ChatModel() if protocol == CHAT else new_model(protocol)


class EchoSession:
    """A bystander of a protocol whose server answers the sender (all but
    chat): served means every request gets exactly the modelled reply.
    (ChatPair has the same interface: connect, round_trip, abort, close.)"""

    def __init__(self, ctx, name: str) -> None:
        self.client = ctx.unconnected_client(name)
        self.model = model_for(ctx)
        self.protocol = ctx.protocol
        self.senders = ()

    def connect(self) -> None:
        self.client.connect()
        expect_greeting(self.client, self.model)

    def round_trip(self, body: bytes, what: str) -> None:
        exchange(self.client, self.model, sample_request(self.protocol, body), what)

    def abort(self) -> None:
        self.client.abort_from_other_thread()

    def close(self) -> None:
        self.client.close()


class Bystander:
    """A client (for chat, a pair of clients) that makes round trips from
    its own thread while a hostile one does its worst; finish() requires
    that every one of them was served correctly, and that there were at
    least BYSTANDER_MIN_ROUNDS. `senders`, for chat: the case's hostile
    clients, whose frames the pair may receive too."""

    def __init__(self, target: Target, during: str, senders=()) -> None:
        self.ctx = target.ctx
        self.during = during
        if self.ctx.protocol == CHAT:
            self.session = ChatPair(self.ctx, "bystander", senders)
        else:
            self.session = EchoSession(self.ctx, "bystander")
        self.senders = self.session.senders  # the names a hostile chat client may receive
        self.rounds = 0
        self.failure: Optional[str] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bystander", daemon=True)

    def __enter__(self) -> "Bystander":
        # Served once from this thread, so that a server that cannot serve
        # it at all fails clearly here.
        try:
            self.session.connect()
            self.session.round_trip(b"first", "the bystander's first request")
        except CaseFailure as failure:
            self.session.close()
            raise CaseFailure("a bystander client was not served %s: %s"
                              % (self.during, failure)) from None
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.session.round_trip(b"ping %d" % self.rounds,
                                        "bystander round trip %d" % self.rounds)
                self.rounds += 1
                self._stop.wait(BYSTANDER_PAUSE)
        except CaseFailure as failure:
            self.failure = str(failure)

    def finish(self) -> None:
        """Require the round trips (waiting for the minimum number, bounded)."""
        wait_until(lambda: self.rounds >= BYSTANDER_MIN_ROUNDS or not self._thread.is_alive(),
                   self.ctx.timeout)
        self._halt()
        if self.failure is not None:
            raise CaseFailure("a bystander client was not served correctly %s: %s"
                              % (self.during, self.failure))
        if self.rounds < BYSTANDER_MIN_ROUNDS:
            raise CaseFailure("a bystander client made only %d round trips in %.1f s %s"
                              % (self.rounds, self.ctx.timeout, self.during))

    def _halt(self) -> None:
        self._stop.set()
        self._thread.join(self.ctx.timeout + 1)
        if self._thread.is_alive():
            self.session.abort()
            self._thread.join(1)

    def __exit__(self, *exc_info) -> None:
        if self._thread.is_alive():
            self._halt()
        self.session.close()


class NoBystander:
    """Stands in for a Bystander when the server serves one client at a time."""

    senders = ()

    def __enter__(self) -> "NoBystander":
        return self

    def finish(self) -> None:
        pass

    def __exit__(self, *exc_info) -> None:
        pass


def bystander_for(setup: Setup, target: Target, during: str, senders=()):
    """A Bystander, or a stand-in when the server serves one client at a time."""
    return NoBystander() if setup.without_bystander() else Bystander(target, during, senders)


@dataclass
class Flood:
    """How a flood() ended: `sent` bytes, then `outcome`."""

    sent: int
    outcome: str  # "complete", "stalled", "out of time" or "refused"
    error: str = ""

    def describe(self) -> str:
        text = {"complete": "all of it went out",
                "stalled": "then the server stopped reading (no progress for %.1f s)"
                           % STALL_SECONDS,
                "out of time": "then the time budget ran out",
                "refused": "then sending failed: %s" % self.error}[self.outcome]
        return "sent %.1f MiB; %s" % (self.sent / MIB, text)


def flood(client: Client, prefix: bytes, unit: bytes, total: int, budget: float) -> Flood:
    """Send `prefix` then `unit` over and over, `total` bytes in all, with
    non-blocking sends: stops early when the server has not taken a byte
    for STALL_SECONDS, when `budget` seconds are up, or when a send fails
    (the server closed the connection)."""
    sock = client.sock
    assert sock is not None
    prefix_view, unit_view = memoryview(prefix), memoryview(unit)

    def piece(position: int) -> memoryview:
        if position < len(prefix_view):
            return prefix_view[position:]
        offset = (position - len(prefix_view)) % len(unit_view)
        return unit_view[offset:offset + min(len(unit_view) - offset, total - position)]

    deadline = time.monotonic() + budget
    sent = 0
    sock.setblocking(False)
    try:
        while sent < total:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Flood(sent, "out of time")
            _, writable, _ = select.select([], [sock], [], min(STALL_SECONDS, remaining))
            if not writable:
                return Flood(sent, "stalled" if remaining > STALL_SECONDS else "out of time")
            try:
                sent += sock.send(piece(sent))
            except BlockingIOError:
                continue
            except OSError as error:
                return Flood(sent, "refused", error.strerror or str(error))
        return Flood(sent, "complete")
    finally:
        sock.settimeout(client.timeout)
        client.log("flooded %d bytes" % sent)


def receive_or_close(client: Client, expected: bytes, what: str) -> bool:
    """Receive exactly `expected` (checked byte by byte as it arrives);
    False if the server closes the connection (EOF or reset) first. Fails
    on a wrong byte or a timeout."""
    sock = client.sock
    assert sock is not None
    received = bytearray()
    while len(received) < len(expected):
        try:
            chunk = sock.recv(len(expected) - len(received))
        except socket.timeout:
            raise CaseFailure("%s: timed out after %.1f s waiting for %s: got %s of %s"
                              % (client.name, client.timeout, what, abbreviate(received),
                                 abbreviate(expected))) from None
        except OSError:
            return False  # reset
        if not chunk:
            return False
        received += chunk
        if expected[:len(received)] != received:
            raise CaseFailure("%s: wrong bytes for %s: %s"
                              % (client.name, what, describe_mismatch(expected, received)))
    return True


def closed_now(client: Client, wait: float) -> bool:
    """Whether the server closes the connection within `wait` seconds
    (returns as soon as it does). Fails if it sends bytes instead: every
    case that uses this has received all the replies it was due."""
    if not client.has_data(wait):
        return False
    try:
        chunk = client.sock.recv(4096)  # type: ignore[union-attr]
    except OSError:
        return True  # reset
    if chunk:
        raise CaseFailure("%s: unexpected bytes from the server: %s"
                          % (client.name, abbreviate(chunk)))
    return True


def trickle(client: Client, model, pieces: List[bytes], interval: float,
            what: str) -> Optional[float]:
    """Send `pieces` one every `interval` seconds, receiving and checking
    each reply the model predicts as it comes. Returns the seconds from the
    first piece to the server's close, or None if the connection was still
    open after the last piece."""
    started = time.monotonic()
    for index, piece in enumerate(pieces):
        # A send into a connection the server has closed may still succeed
        # (only the next one fails), so a close is detected on receiving.
        try:
            client.sock.sendall(piece)  # type: ignore[union-attr]
        except OSError:
            return time.monotonic() - started
        client.log("sent %s" % abbreviate(piece))
        reply = model.feed(piece)
        if reply and not receive_or_close(client, reply, "the reply to piece %d of %s"
                                          % (index, what)):
            return time.monotonic() - started
        next_send = started + (index + 1) * interval
        if closed_now(client, max(0.0, next_send - time.monotonic())):
            return time.monotonic() - started
    return None


def one_byte_pieces(data: bytes) -> List[bytes]:
    return [data[index:index + 1] for index in range(len(data))]


# ------------------------------------------------------ what each protocol's attack is made of

def text_bytes(size: int, seed: int = 0) -> bytes:
    """`size` printable bytes (no space, CR or LF), different for each seed:
    the text of a line."""
    period = bytes(range(0x21, 0x7F))
    rotated = period[seed % len(period):] + period[:seed % len(period)]
    return (rotated * (size // len(rotated) + 1))[:size]


def flood_unit(protocol: str):
    """(prefix, unit, description) of big-message-never-reads: the flood is
    `prefix` then `unit` over and over, and every unit calls for a reply
    (chat: a delivery to the member that never reads)."""
    if protocol == SHIFT:  # one message, never ended: a reply byte per byte
        return (b"^", message_body(MIB),
                "'^' and %d MiB of one message never ended by '$'" % (BIG_MESSAGE_BYTES // MIB))
    # packet and line: a unit of many small requests (one send() each would
    # make the flood too slow to fill a server that keeps reading).
    if protocol == PACKET:  # the largest packets, each echoed
        packet = encode_packet(payload_bytes(MAX_PACKET - 1))
        return b"", packet * FLOOD_UNIT_REQUESTS, "%d packets of %d bytes" % (
            BIG_MESSAGE_BYTES // len(packet), len(packet))
    if protocol == LINE:  # valid ECHO lines, each answered with as many bytes
        line = b"ECHO " + text_bytes(LINE_FLOOD_TEXT) + b"\r\n"
        return b"", line * FLOOD_UNIT_REQUESTS, "%d ECHO lines of %d bytes" % (
            BIG_MESSAGE_BYTES // len(line), len(line))
    if protocol == CHAT:
        unit = encode_frame(chat_payload("flooder", payload_bytes(DEFAULT_MAX_FRAME - 16)))
        return b"", unit, "%d frames of %d bytes into the room" % (BIG_MESSAGE_BYTES // len(unit),
                                                                  len(unit) - 4)
    unit = encode_frame(payload_bytes(DEFAULT_MAX_FRAME))
    return b"", unit, "%d frames of %d bytes" % (BIG_MESSAGE_BYTES // len(unit), DEFAULT_MAX_FRAME)


def unfinished_request(protocol: str, count: int) -> bytes:
    """A request of which the first `count` bytes are not yet complete:
    shift a message without '$', framed and chat a frame announcing
    TRICKLED_FRAME bytes, packet a header announcing TRICKLED_PACKET bytes,
    line a line without its LF (and shorter than --max-line)."""
    if protocol == SHIFT:
        request = b"^" + message_body(count)
    elif protocol == PACKET:
        assert count < TRICKLED_PACKET
        request = encode_packet(payload_bytes(TRICKLED_PACKET - 1))
    elif protocol == LINE:
        assert count < DEFAULT_MAX_LINE
        request = b"ECHO " + text_bytes(count) + b"\r\n"
    else:
        request = encode_frame(payload_bytes(TRICKLED_FRAME))
    assert len(request) > count
    return request


def load_request(protocol: str, size: int, seed: int) -> bytes:
    """About `size` bytes of complete requests (sigterm-under-load)."""
    if protocol == SHIFT:
        return shift_message(message_body(size, seed))
    if protocol == PACKET:
        body = payload_bytes(size, seed)
        step = MAX_PACKET - 1
        return b"".join(encode_packet(body[start:start + step])
                        for start in range(0, len(body), step))
    if protocol == LINE:
        step = LINE_FLOOD_TEXT
        return b"".join(b"ECHO " + text_bytes(min(step, size - start), seed + start) + b"\r\n"
                        for start in range(0, size, step))
    return encode_frame(payload_bytes(size, seed))


# ------------------------------------------------------ 1. huge-header-flood

@hostile_case("huge-header-flood", not_for={
    SHIFT: "shift has no header (a message is answered byte by byte, never buffered)",
    PACKET: "a packet's header is one byte, which cannot announce more than 255 bytes",
    LINE: "line has no header (a line over --max-line is refused as soon as it is too long; "
          "garbage-then-reset sends some)"})
def huge_header_flood(setup: Setup) -> None:
    """A header announcing ~4 GiB, then a 32 MiB flood: closed at once, memory flat."""
    target = setup.start()
    warm_up(target)
    during = "while another client flooded the server after a header announcing %d bytes" \
        % FLOOD_ANNOUNCED
    # A chat flooder is a member of the room until it is closed: frames
    # from the bystander pair may reach it first.
    flooder = ChatMember(target.ctx, "flooder") if setup.protocol == CHAT else None
    with bystander_for(setup, target, during) as bystander, MemoryWatch(target.server) as memory:
        client = flooder.connect().client if flooder else target.ctx.client("flooder")
        with client:
            result = flood(client, encode_header(FLOOD_ANNOUNCED), payload_bytes(MIB),
                           FLOOD_BYTES, FLOOD_BUDGET)
            memory.require_growth_below(FLOOD_MEMORY_LIMIT, "while a client flooded it after a "
                                        "header announcing %d bytes (%s)"
                                        % (FLOOD_ANNOUNCED, result.describe()))
            what = ("after a header announcing %d bytes (over --max-frame) and a flood (%s)"
                    % (FLOOD_ANNOUNCED, result.describe()))
            if flooder is None:
                client.expect_eof(what, allow_reset=True)
            elif not flooder.closed_within(target.ctx.timeout, bystander.senders):
                raise CaseFailure("flooder: timed out after %.1f s waiting for the server to "
                                  "close the connection %s" % (target.ctx.timeout, what))
        bystander.finish()
    target.require_alive("after the flood")
    probe(target, "client-after-the-flood")


# ------------------------------------------------------ 2. big-message-never-reads

@hostile_case("big-message-never-reads")
def big_message_never_reads(setup: Setup) -> None:
    """64 MiB of requests from a client that never reads: memory stays bounded."""
    if setup.protocol == CHAT:
        chat_big_message_never_reads(setup)
        return
    target = setup.start()
    warm_up(target)
    prefix, unit, request = flood_unit(setup.protocol)
    total = len(prefix) + BIG_MESSAGE_BYTES // len(unit) * len(unit)
    with MemoryWatch(target.server) as memory, target.ctx.client("never-reads") as sender:
        sender.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NON_READER_RCVBUF)
        result = flood(sender, prefix, unit, total, BIG_MESSAGE_BUDGET)
        settle_memory(memory)
        memory.require_growth_below(BIG_MESSAGE_MEMORY_LIMIT, "while a client that never reads "
                                    "sent %s (%s): a server must stop reading from a connection "
                                    "whose unsent replies pass a limit" % (request,
                                                                           result.describe()))
        target.require_alive("while a client sent %s without reading" % request)
        # The bystander comes now, while the server holds a connection whose
        # replies cannot leave: a design that blocks on that connection's
        # send cannot serve anyone else.
        with bystander_for(setup, target, "while another client that never reads had sent %s"
                           % request) as bystander:
            bystander.finish()
        sender.reset()  # its unread replies would turn a close into a reset anyway
    probe(target, "client-after-the-big-message")


def chat_big_message_never_reads(setup: Setup) -> None:
    """Chat's big-message-never-reads. In chat the output a client causes
    goes to the others, so the client whose unread output piles up is a
    member that never reads while another floods the room: a flooder that
    never reads either sends 64 MiB of frames, which the server must not
    queue without limit for the silent member (drop it, or stop reading
    from the flooder). Then a bystander pair must be served while both are
    still connected (a server that blocks sending to the silent member
    cannot deliver their frames)."""
    target = setup.start()
    warm_up(target)
    ctx = target.ctx
    prefix, unit, request = flood_unit(CHAT)
    total = BIG_MESSAGE_BYTES // len(unit) * len(unit)
    silent, flooder = ChatMember(ctx, "never-reads"), ChatMember(ctx, "flooder")
    hostile = {silent.name, flooder.name}
    try:
        silent.connect()
        silent.client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NON_READER_RCVBUF)
        flooder.connect()
        join([silent], [flooder], ctx.timeout, hostile)  # the silent member is in the room
        flooder.client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NON_READER_RCVBUF)
        with MemoryWatch(target.server) as memory:
            result = flood(flooder.client, prefix, unit, total, BIG_MESSAGE_BUDGET)
            settle_memory(memory)
            memory.require_growth_below(
                BIG_MESSAGE_MEMORY_LIMIT, "while a client sent %s (%s) and another member of the "
                "room never read: a chat server must bound what it queues for a member (drop it "
                "when its queue overflows, or stop reading from the sender)"
                % (request, result.describe()))
        target.require_alive("while a client sent %s and another member never read" % request)
        setup.note("flood: %s" % result.describe())
        with bystander_for(setup, target, "while a member that never reads was in the room, "
                           "after another had sent %s" % request, hostile) as bystander:
            bystander.finish()
    finally:
        silent.reset()
        flooder.reset()
    probe(target, "client-after-the-big-message")


def settle_memory(memory: MemoryWatch) -> None:
    """Watch (bounded) until the server's memory has not grown for
    MEMORY_QUIET seconds: it may still be working through what the kernel
    buffered when our sending stopped."""
    last = [memory.growth(), time.monotonic()]

    def quiet() -> bool:
        growth = memory.growth()
        if growth > last[0]:
            last[:] = [growth, time.monotonic()]
        return time.monotonic() - last[1] >= MEMORY_QUIET

    wait_until(quiet, MEMORY_SETTLE_LIMIT)


# ------------------------------------------------------ 3. garbage-then-reset

@hostile_case("garbage-then-reset")
def garbage_then_reset(setup: Setup) -> None:
    """300 connections send random bytes and reset: no descriptor leaks, still serving."""
    target = setup.start()
    warm_up(target)
    server = target.server
    before = server.fd_count()
    rng = random.Random(GARBAGE_SEED)
    for batch in range(GARBAGE_CONNECTIONS // GARBAGE_BATCH):
        for index in range(GARBAGE_BATCH):
            number = batch * GARBAGE_BATCH + index
            garbage = garbage_bytes(setup.protocol, rng, plausible=number % 2 == 1)
            with target.ctx.client("garbage-%d" % number) as client:
                client.send_nowait(garbage)
                client.reset()
        target.require_alive("after %d connections sent random bytes and reset"
                             % ((batch + 1) * GARBAGE_BATCH))
        # The probe waits behind the batch (a server that serves one client
        # at a time takes them in order), which also keeps the backlog from
        # overflowing, where a connect would wait a second for a SYN retry.
        probe(target, "probe-after-%d-resets" % ((batch + 1) * GARBAGE_BATCH))
    if not wait_until(lambda: server.fd_count() <= before + DESCRIPTOR_SLACK, DESCRIPTOR_SETTLE):
        raise CaseFailure("the server had %d descriptors open before %d connections sent random "
                          "bytes and reset, and still %d (%.1f s after the last; at most %d more "
                          "allowed): it does not close connections that the peer reset"
                          % (before, GARBAGE_CONNECTIONS, server.fd_count(), DESCRIPTOR_SETTLE,
                             DESCRIPTOR_SLACK))
    probe(target, "client-after-the-resets")


def garbage_bytes(protocol: str, rng: random.Random, plausible: bool) -> bytes:
    """Random bytes; `plausible` ones start like a request, so the server
    is in the middle of one when the reset comes. (In framed and chat,
    random bytes alone nearly always make a header over --max-frame, which
    a server refuses before it has read anything else; in packet a header
    byte 0 or 1 soon closes the connection; in line they make lines of
    unknown commands, or one over --max-line, which closes it.)"""
    garbage = rng.randbytes(rng.randint(1, GARBAGE_MAX_BYTES))
    if not plausible:
        return garbage
    if protocol == SHIFT:
        return b"^" + garbage.replace(b"$", b"")
    if protocol == PACKET:  # a few whole packets, then one never finished
        whole = [garbage[start:start + 50] for start in range(0, min(len(garbage), 200), 50)]
        unfinished = garbage[:rng.randint(0, MAX_PACKET - 2)]
        return b"".join(encode_packet(body) for body in whole) + \
            bytes([len(unfinished) + rng.randint(2, MAX_PACKET - len(unfinished))]) + unfinished
    if protocol == LINE:  # an ECHO line, then one never ended, both within --max-line
        text = garbage.replace(b"\n", b"").replace(b"\r", b"")[:DEFAULT_MAX_LINE - 8]
        return b"ECHO " + text[:len(text) // 2] + b"\r\nECHO " + text[len(text) // 2:]
    # framed, chat: a frame never finished (in chat, a finished one would be
    # delivered to the probe's clients)
    return encode_header(rng.randint(len(garbage) + 1, 64 * 1024)) + garbage


# ------------------------------------------------------ 4. descriptor-exhaustion

@hostile_case("descriptor-exhaustion")
def descriptor_exhaustion(setup: Setup) -> None:
    """200 connections against a 64-descriptor limit: no crash, no spin, no log flood."""
    target = setup.start(nofile=NOFILE_LIMIT)
    warm_up(target)
    server = target.server
    host, port = target.ctx.address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    load: List[socket.socket] = []
    try:
        # Non-blocking connects: once the server stops accepting and its
        # backlog is full, the kernel drops our SYNs and a blocking connect
        # would wait for the retry.
        for _ in range(LOAD_CONNECTIONS):
            sock = socket.socket(family, socket.SOCK_STREAM)
            load.append(sock)
            sock.setblocking(False)
            sock.connect_ex((host, port))
        settle_descriptor_count(target)
        target.require_alive("when %d clients connected to it with a limit of %d descriptors"
                             % (LOAD_CONNECTIONS, NOFILE_LIMIT))
        descriptors = server.fd_count()
        lines_before = len(server.stderr_lines())
        cpu_before = server.cpu_seconds()
        status = server.wait(EXHAUSTION_WINDOW)  # returns at once if it dies
        if status is not None:
            target.exit_accounted = True
            raise CaseFailure("the server exited with status %s at its descriptor limit (%d "
                              "descriptors open, limit %d, %d clients connected)%s"
                              % (describe_status(status), descriptors, NOFILE_LIMIT,
                                 LOAD_CONNECTIONS, stderr_block(target.server)))
        cpu = server.cpu_seconds() - cpu_before
        warnings = [line for line in server.stderr_lines()[lines_before:]
                    if EXHAUSTION_WARNING.search(line)]
        if cpu >= EXHAUSTION_CPU_LIMIT:
            raise CaseFailure("the server used %.2f s of CPU in %.1f s at its descriptor limit "
                              "(%d open, limit %d): it busy-loops on a failing accept (at most "
                              "%.1f s allowed)" % (cpu, EXHAUSTION_WINDOW, descriptors,
                                                   NOFILE_LIMIT, EXHAUSTION_CPU_LIMIT))
        if len(warnings) > EXHAUSTION_WARNING_LIMIT:
            raise CaseFailure("the server printed %d warning lines about accept/descriptors in "
                              "%.1f s at its descriptor limit (at most %d allowed: a repeated "
                              "warning should be printed once per interval with a count); "
                              "the first: %r, the last: %r"
                              % (len(warnings), EXHAUSTION_WINDOW, EXHAUSTION_WARNING_LIMIT,
                                 warnings[0], warnings[-1]))
        if setup.verbose:
            target.ctx.log("%d descriptors open, %.2f s CPU and %d warning lines in %.1f s"
                           % (descriptors, cpu, len(warnings), EXHAUSTION_WINDOW))
    finally:
        for sock in load:
            sock.close()
    probe(target, "client-after-the-load-left")


def settle_descriptor_count(target: Target) -> None:
    """Wait (bounded) until the server's descriptor count has held still
    for LOAD_SETTLE_QUIET seconds: it has accepted what it is going to."""
    server = target.server
    last = [server.fd_count(), time.monotonic()]

    def steady() -> bool:
        count = server.fd_count() if server.exit_status() is None else -1
        if count != last[0]:
            last[:] = [count, time.monotonic()]
        return count < 0 or time.monotonic() - last[1] >= LOAD_SETTLE_QUIET

    wait_until(steady, LOAD_SETTLE_LIMIT)


# ------------------------------------------------------ 5. idle-timeout

@hostile_case("idle-timeout")
def idle_timeout(setup: Setup) -> None:
    """--idle-timeout-ms 600: a silent client is closed, a trickling one is not."""
    target = setup.start("--idle-timeout-ms", str(IDLE_TIMEOUT_MS))
    ctx = target.ctx
    limit = IDLE_TIMEOUT_MS / 1000
    with ctx.client("silent") as silent:
        connected = time.monotonic()
        expect_greeting(silent, hostile_model(ctx.protocol))
        silent.expect_eof("of a silent client (--idle-timeout-ms %d)" % IDLE_TIMEOUT_MS,
                          timeout=CLOSE_DEADLINE, allow_reset=True)
        elapsed = time.monotonic() - connected
        if elapsed < limit - EARLY_MARGIN:
            raise CaseFailure("the server closed a silent client after %.2f s, before its idle "
                              "timeout of %.2f s" % (elapsed, limit))

    # One request that takes longer than the idle timeout to arrive, a few
    # bytes at a time: the connection is never idle, so it must stay open.
    model = hostile_model(ctx.protocol)
    count = int(TRICKLE_DURATION / TRICKLE_INTERVAL)
    if setup.protocol == SHIFT:
        pieces = [b"^"] + one_byte_pieces(message_body(count, seed=1))
        finish = b"$" + sample_request(SHIFT, b"after the trickle")
    elif setup.protocol in (FRAMED, CHAT):
        frame = unfinished_request(setup.protocol, 0)
        trickled = 4 + count * TRICKLED_FRAME_PIECE
        pieces = [frame[start:start + TRICKLED_FRAME_PIECE]
                  for start in range(0, trickled, TRICKLED_FRAME_PIECE)]
        finish = frame[trickled:]
    else:  # packet: a header then body bytes; line: a line without its LF
        request = unfinished_request(setup.protocol, count)
        pieces, finish = one_byte_pieces(request[:count]), request[count:]
    what = "one unfinished request sent a few bytes every %.2f s" % TRICKLE_INTERVAL
    trickler = ChatMember(ctx, "trickler") if setup.protocol == CHAT else None
    with (trickler.connect().client if trickler else ctx.client("trickler")) as client:
        expect_greeting(client, model)
        closed = trickle(client, model, pieces, TRICKLE_INTERVAL, what)
        if closed is not None:
            raise CaseFailure("the server closed a client %.2f s after it began to send %s (the "
                              "idle timeout of %.2f s must count from the last byte received "
                              "or sent, not from the last complete request)"
                              % (closed, what, limit))
        rest = ("the rest of the trickled request, %.1f s after it began (with --idle-timeout-ms "
                "%d)" % (TRICKLE_DURATION, IDLE_TIMEOUT_MS))
        if trickler is None:
            exchange(client, model, finish, rest)
        else:  # the finished frame must reach a member who joins now
            finish_chat_request(ctx, trickler, finish, b"".join(pieces) + finish, rest)


def finish_chat_request(ctx, sender: ChatMember, rest: bytes, frame: bytes, what: str) -> None:
    """Chat: a listener joins the room (its hello reaching `sender`), then
    `sender` sends `rest`, the end of `frame`, which must reach the listener."""
    listener = ChatMember(ctx, "listener").connect()
    try:
        join([listener], [sender], ctx.timeout, {listener.name})
        sender.client.send(rest, what)
        listener.expect(frame[4:], what, {sender.name})
    finally:
        listener.close()


# ------------------------------------------------------ 6. slow-reader

@hostile_case("slow-reader", not_for={
    SHIFT: "a reply byte goes out as its request byte arrives, so the server receives for as "
           "long as it sends: no connection carries sent bytes alone (the framed run checks "
           "the same idle clock)",
    PACKET: "a reply is at most 255 bytes and goes out as its packet arrives: none is large "
            "enough to be read slowly for longer than the idle timeout",
    LINE: "a reply is one line of at most --max-line bytes and goes out as its line arrives: "
          "none is large enough to be read slowly for longer than the idle timeout"})
def slow_reader(setup: Setup) -> None:
    """--idle-timeout-ms 600: a client that only reads (a 1 MiB reply, slowly) is not idle."""
    target = setup.start("--idle-timeout-ms", str(SLOW_READER_IDLE_MS))
    attempt = chat_slow_reader_attempt if setup.protocol == CHAT else framed_slow_reader_attempt
    doubts: List[str] = []
    for number in range(1, SLOW_READER_ATTEMPTS + 1):
        note, doubt = attempt(target, number)
        if doubt is None:
            if doubts:
                note += "; attempt %d of %d (before: %s)" % (number, SLOW_READER_ATTEMPTS,
                                                             "; ".join(doubts))
            setup.note(note)
            return
        if setup.verbose:
            target.ctx.log("attempt %d proves nothing: %s" % (number, doubt))
        doubts.append(doubt)
        target.require_alive("after slow-reader attempt %d" % number)
    raise CaseFailure("no attempt out of %d could judge the server: %s"
                      % (SLOW_READER_ATTEMPTS, "; ".join(doubts)))


def idle_verdict(at: float, last_io: float, what: str, when: str) -> str:
    """The server closed a connection at `at` (or before), the last I/O on
    it seen having come after `last_io`: fail if that was not a whole idle
    timeout later; else why the attempt proves nothing (the client was the
    one that left the server waiting: a busy machine)."""
    limit = SLOW_READER_IDLE_MS / 1000
    idle = at - last_io
    if idle < limit - EARLY_MARGIN:
        raise CaseFailure("the server closed %s %s, at most %.2f s after it was last seen sending "
                          "to it: the idle timeout of %.2f s must count from the last byte "
                          "received or sent, not only received" % (what, when, idle, limit))
    return ("the server sent nothing for %.2f s and closed %s %s as idle: the client read too "
            "late (a busy machine?)" % (idle, what, when))


def framed_slow_reader_attempt(target: Target, number: int) -> Tuple[str, Optional[str]]:
    """One frame of 1 MiB, whose reply is read only as fast as it takes to
    keep the server writing (SlowReader); then silence. Returns (note,
    None), or (_, why this attempt proves nothing)."""
    ctx = target.ctx
    payload = payload_bytes(SLOW_READER_PAYLOAD, seed=number)
    client = ctx.unconnected_client("slow-reader")
    client.connect(options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_READER_RCVBUF),
                            (socket.IPPROTO_TCP, socket.TCP_MAXSEG, SLOW_READER_MSS)])
    with client:
        reader = SlowReader(client, frame_reply(payload), ctx.timeout)
        client.send(encode_frame(payload), "one frame of %d bytes" % len(payload))
        reader.wait_for_request()
        doubt = reader.read_while_written()
        if doubt is None:
            doubt = reader.read_rest()
        if doubt is not None:
            return "", doubt
        return reader.await_close()


class SlowReader:
    """The client of framed slow-reader. It has sent one frame; once the
    server has read all of it (no byte left in the server's receive queue),
    the only traffic is the 1 MiB reply, and the client reads it only when
    the server has not been seen writing for SLOW_READER_NUDGE, and then
    only until it writes again: the server goes on writing, in steps a
    third of the timeout apart, for about a timeout after the request, and
    a server whose idle clock counts received bytes only closes the
    connection a timeout after the request, less than a timeout after its
    last write, usually in the middle of the reply. Every byte is checked
    against the reference model.

    What the server writes cannot be seen on the client's socket: the
    kernel buffers up to megabytes between the two (the server's send
    buffer grows with the transfer), so the client watches the connection's
    kernel queues (ConnectionWatch): the server has written what the client
    has read, plus what waits in the client's receive queue and in the
    server's send queue. A look at them may overstate that by a window of
    bytes received but not yet acknowledged, so only a rise of more than
    `noise` counts as a write. Times are judged in the server's favour: a
    write seen at one look came after the look before (`last_io`), a close
    seen at a look came before it."""

    def __init__(self, client: Client, reply: bytes, timeout: float) -> None:
        self.client = client
        self.sock: socket.socket = client.sock  # type: ignore[assignment]
        self.reply = reply
        self.timeout = timeout
        self.watch = ConnectionWatch(self.sock)
        self.buffer = bytearray(len(reply))
        self.received = 0
        # getsockopt reports the doubled size the kernel uses: the window is within it.
        self.noise = 2 * self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) + \
            SLOW_READER_NOISE
        self.last_io = time.monotonic()  # the server did I/O on the connection after this
        self.request_read = self.last_io  # set when the server has read the whole request
        self.written = 0  # how much of the reply the server was last seen to have written
        self.writes = 0  # writes seen since it read the request

    def look(self) -> Tuple[Optional[SocketQueues], Optional[SocketQueues], float]:
        """(the server's end, the client's end, when the look began)."""
        began = time.monotonic()
        server, client = self.watch.read()
        return server, client, began

    def written_now(self, server: SocketQueues, client: SocketQueues) -> int:
        return self.received + client.receive_queue + server.send_queue

    def wait_for_request(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            server, client, began = self.look()
            if server is None or client is None or server.state != TCP_ESTABLISHED:
                raise CaseFailure("slow-reader: the server closed the connection before it had "
                                  "read the whole request, one frame of %d bytes (within the "
                                  "default --max-frame)" % (len(self.reply) - 4))
            if server.receive_queue == 0 and client.send_queue == 0:
                self.request_read = began
                self.written = self.written_now(server, client)
                return
            self.last_io = began  # some of it was still to be read
            if began >= deadline:
                raise CaseFailure("slow-reader: the server did not read the whole request, one "
                                  "frame of %d bytes, within %.1f s"
                                  % (len(self.reply) - 4, self.timeout))
            time.sleep(SLOW_READER_TICK / 5)

    def read_while_written(self) -> Optional[str]:
        """Read slowly until the server has written the whole reply. None,
        or why the attempt proves nothing; fails on a premature close."""
        last_write_seen = previous = self.request_read
        deadline = self.request_read + self.timeout + 4 * SLOW_READER_IDLE_MS / 1000
        while True:
            server, client, began = self.look()
            if server is None or client is None or server.state != TCP_ESTABLISHED:
                return self.closed(time.monotonic())
            written = self.written_now(server, client)
            if written > self.written + self.noise:
                self.written = written
                self.writes += 1
                self.last_io = previous
                last_write_seen = began
                self.client.log("%.3f s after the request: the server has written %d bytes, the "
                                "client read %d" % (began - self.request_read, written,
                                                    self.received))
            previous = began
            if written >= len(self.reply):
                return None
            if began >= deadline:
                raise CaseFailure("slow-reader: the server wrote only about %d of the %d bytes "
                                  "of its reply in %.1f s while the client read all it could"
                                  % (written, len(self.reply), began - self.request_read))
            nudging = began - last_write_seen >= SLOW_READER_NUDGE
            try:
                if nudging and self.read_available(SLOW_READER_READ):
                    continue
            except EOFError:
                return self.closed(time.monotonic())
            if nudging:
                self.client.has_data(SLOW_READER_TICK)
            else:
                time.sleep(SLOW_READER_TICK)  # between two looks at the queues: no event for them

    def read_available(self, limit: int) -> int:
        """Read (without waiting) and check up to `limit` bytes; how many.
        EOFError if the server closed the connection (EOF or a reset)."""
        count = 0
        self.sock.setblocking(False)
        try:
            while count < limit and self.received < len(self.reply):
                size = min(limit - count, len(self.reply) - self.received)
                try:
                    got = self.sock.recv_into(memoryview(self.buffer)[self.received:], size)
                except BlockingIOError:
                    break
                except OSError:
                    raise EOFError from None
                if not got:
                    raise EOFError
                self.check(got)
                count += got
        finally:
            self.sock.settimeout(self.client.timeout)
        return count

    def check(self, got: int) -> None:
        start, self.received = self.received, self.received + got
        if self.buffer[start:self.received] != self.reply[start:self.received]:
            raise CaseFailure("slow-reader: wrong bytes in the reply to one frame of %d bytes: %s"
                              % (len(self.reply) - 4, describe_mismatch(
                                  self.reply, self.buffer[:self.received])))

    def read_rest(self) -> Optional[str]:
        """The server has written it all: read the rest at once."""
        while self.received < len(self.reply):
            if not self.client.has_data(self.timeout):
                raise CaseFailure("slow-reader: timed out after %.1f s waiting for the rest of "
                                  "the reply (got %d of %d bytes)"
                                  % (self.timeout, self.received, len(self.reply)))
            try:
                self.read_available(len(self.reply))
            except EOFError:
                return self.closed(time.monotonic())
        return None

    def closed(self, at: float) -> str:
        return idle_verdict(at, self.last_io, "a client that read a %d-byte reply slowly"
                            % len(self.reply), "with %d of its bytes received, %.2f s after the "
                            "request had arrived" % (self.received, at - self.request_read))

    def await_close(self) -> Tuple[str, Optional[str]]:
        """The whole reply has arrived; the client says nothing more."""
        limit = SLOW_READER_IDLE_MS / 1000
        ended = time.monotonic()
        if not closed_now(self.client, SLOW_READER_CLOSE_DEADLINE):
            raise CaseFailure("the server did not close a client that had read a whole reply "
                              "and then said nothing for %.2f s (--idle-timeout-ms %d)"
                              % (SLOW_READER_CLOSE_DEADLINE, SLOW_READER_IDLE_MS))
        at = time.monotonic()
        idle_verdict(at, self.last_io, "a client", "%.2f s after it had read the whole reply"
                     % (at - ended))
        span = self.last_io - self.request_read
        if span < SLOW_READER_MIN_SPAN:
            return "", ("the server was seen writing the reply for only %.2f s after the request "
                        "(the kernel took the rest): too short to tell whether its idle clock "
                        "counts bytes sent" % span)
        return ("the server wrote the reply for %.2f s (%d writes seen), and closed the "
                "connection %.2f s after the last one seen, %.2f s after the whole reply"
                % (span, self.writes, at - self.last_io, at - ended)), None


def chat_slow_reader_attempt(target: Target, number: int) -> Tuple[str, Optional[str]]:
    """Chat's slow-reader: a member that never sends after joining, while
    another sends a frame every SLOW_READER_STREAM_INTERVAL for twice the
    idle timeout. Its connection carries only what the server sends it, so
    it needs no slow reading to be a connection with sent bytes alone: it
    must stay open and get every frame; then, once the frames stop, be
    closed as idle."""
    ctx = target.ctx
    reader, sender = ChatMember(ctx, "slow-reader"), ChatMember(ctx, "sender")
    names = {reader.name, sender.name}
    what = "a member that only receives"
    try:
        last_io = time.monotonic()  # the server did I/O on the reader's connection after this
        reader.connect()
        sender.connect()
        join([reader, sender], [reader, sender], ctx.timeout, names)
        began = time.monotonic()
        for index in range(SLOW_READER_STREAM_FRAMES):
            sent_at = time.monotonic()
            payload = sender.send_text(b"%d " % index + payload_bytes(SLOW_READER_STREAM_TEXT,
                                                                       seed=number + index),
                                       "frame %d of the stream" % index)
            when = "while frame %d was on its way to it, %.2f s after it joined" % (
                index, time.monotonic() - began)
            if not receive_stream_frame(reader, sender, payload, names, index):
                return "", idle_verdict(time.monotonic(), last_io, what, when)
            last_io = sent_at  # the server sent the frame to the reader after this
            pause = began + (index + 1) * SLOW_READER_STREAM_INTERVAL - time.monotonic()
            if reader.closed_within(max(0.0, pause), names):
                return "", idle_verdict(time.monotonic(), last_io, what,
                                        "between two frames of the stream")
        ended = time.monotonic()
        if not reader.closed_within(SLOW_READER_CLOSE_DEADLINE, names):
            raise CaseFailure("the server did not close %s once the frames stopped: nothing "
                              "for %.2f s (--idle-timeout-ms %d)"
                              % (what, SLOW_READER_CLOSE_DEADLINE, SLOW_READER_IDLE_MS))
        at = time.monotonic()
        idle_verdict(at, last_io, what, "%.2f s after the last frame" % (at - ended))
        return ("%d frames over %.2f s to a member that only received; closed %.2f s after the "
                "last was sent" % (SLOW_READER_STREAM_FRAMES, ended - began, at - last_io)), None
    finally:
        reader.close()
        sender.close()


def receive_stream_frame(reader: ChatMember, sender: ChatMember, payload: bytes,
                         names, index: int) -> bool:
    """Receive frames until `payload`, the next of the stream; False if the
    server closes the connection first. Only the sender's re-sent hellos
    may come before it."""
    what = "frame %d of the stream from %s" % (index, sender.name)
    deadline = time.monotonic() + reader.timeout
    while True:
        frame = reader.next_frame(deadline - time.monotonic())
        if frame == payload:
            return True
        if frame is None:
            if reader.ended:
                return False
            raise CaseFailure("%s: timed out after %.1f s waiting for %s"
                              % (reader.name, reader.timeout, what))
        reader.check_sender(frame, names, what)
        if frame != sender.hello:
            raise CaseFailure("%s: received %s while waiting for %s: frames lost, reordered or "
                              "corrupted" % (reader.name, abbreviate(frame), what))


# ------------------------------------------------------ 7. request-timeout

@hostile_case("request-timeout")
def request_timeout(setup: Setup) -> None:
    """--request-timeout-ms 800: a request trickled forever is cut, slow complete ones are not."""
    target = setup.start("--request-timeout-ms", str(REQUEST_TIMEOUT_MS), "--idle-timeout-ms", "0")
    ctx = target.ctx
    limit = REQUEST_TIMEOUT_MS / 1000
    count = int(CLOSE_DEADLINE / SLOW_BYTE_INTERVAL) + 1
    request = unfinished_request(setup.protocol, count)
    what = "a request that never ends, one byte every %.1f s" % SLOW_BYTE_INTERVAL
    model = hostile_model(ctx.protocol)
    with ctx.client("slowloris") as slow:
        expect_greeting(slow, model)
        closed = trickle(slow, model, one_byte_pieces(request[:count]), SLOW_BYTE_INTERVAL, what)
        if closed is None:
            raise CaseFailure("the server did not close a client that sent %s within %.1f s of "
                              "its first byte (--request-timeout-ms %d)"
                              % (what, CLOSE_DEADLINE, REQUEST_TIMEOUT_MS))
        if closed < limit - EARLY_MARGIN:
            raise CaseFailure("the server closed a client that sent %s %.2f s after its first "
                              "byte, before the request timeout of %.2f s" % (what, closed, limit))

    # Chat: a pair, each member sending a complete frame in turn.
    patient = ChatPair(ctx, "slow-but-complete") if setup.protocol == CHAT \
        else EchoSession(ctx, "slow-but-complete")
    try:
        patient.connect()
        patient.round_trip(b"first", "a complete request")
        closed_one = patient.closed_within(REQUEST_PAUSE) if setup.protocol == CHAT \
            else closed_now(patient.client, REQUEST_PAUSE) and patient.client.name
        if closed_one:
            raise CaseFailure("the server closed a client (%s) that had sent complete requests "
                              "only and was then silent for less than %.1f s (no request was "
                              "under way, so --request-timeout-ms %d does not apply; "
                              "--idle-timeout-ms is 0)" % (closed_one, REQUEST_PAUSE,
                                                           REQUEST_TIMEOUT_MS))
        patient.round_trip(b"second", "a second complete request, %.1f s after the first was "
                           "answered" % REQUEST_PAUSE)
    finally:
        patient.close()


# ------------------------------------------------------ 8. sigterm-under-load

class LoadClient(LoadThread):
    """A load client (LoadThread) of a protocol with replies: each request
    checked against the model."""

    def __init__(self, target: Target, index: int, stop: threading.Event) -> None:
        super().__init__("load-%d" % index, index, stop)
        self.client = target.ctx.unconnected_client("load-%d" % index)
        self.protocol = target.ctx.protocol
        self.model = new_model(self.protocol)

    def connect(self) -> bool:
        self.client.connect()
        return not self.model.greeting or receive_or_close(self.client, self.model.greeting,
                                                           "the greeting")

    def send_request(self, rng: random.Random) -> bytes:
        request = load_request(self.protocol, rng.randint(1, LOAD_REQUEST_MAX), self.replies)
        self.client.sock.sendall(request)  # type: ignore[union-attr]
        return request

    def receive_answer(self, sent: bytes) -> bool:
        return receive_or_close(self.client, self.model.feed(sent),
                                "the reply to request %d" % self.replies)

    def abort(self) -> None:
        self.client.abort_from_other_thread()

    def close(self) -> None:
        self.client.close()


@hostile_case("sigterm-under-load")
def sigterm_under_load(setup: Setup) -> None:
    """SIGTERM while 8 clients make verified round trips: exit 0 in time, no wrong byte."""
    target = setup.start("--shutdown-grace-ms", str(SHUTDOWN_GRACE_MS))
    ctx, server = target.ctx, target.server
    stop = threading.Event()
    if setup.protocol == CHAT:  # 4 pairs in ping-pong, all 8 checking every frame
        pairs = range(LOAD_CLIENTS // 2)
        names = {"load-%d-%s" % (index, side) for index in pairs for side in "ab"}
        clients = [ChatLoadPair(ctx, index, stop, names, LOAD_REQUEST_MAX) for index in pairs]
    else:
        clients = [LoadClient(target, index, stop) for index in range(LOAD_CLIENTS)]
    try:
        for client in clients:
            client.start()
        if not wait_until(lambda: sum(client.replies for client in clients) > 0, ctx.timeout):
            raise CaseFailure("no load client got a reply within %.1f s" % ctx.timeout)
        time.sleep(LOAD_BEFORE_SIGTERM)  # the load itself: round trips go on meanwhile
        before = sum(client.replies for client in clients)
        target.exit_accounted = True
        server.terminate()
        signalled = time.monotonic()
        deadline = SHUTDOWN_GRACE_MS / 1000 + EXIT_SLACK
        status = server.wait(deadline)
        if status is None:
            raise CaseFailure("the server did not exit within %.1f s of SIGTERM (grace period "
                              "%d ms) while %d clients kept it busy"
                              % (deadline, SHUTDOWN_GRACE_MS, LOAD_CLIENTS))
        exited = time.monotonic() - signalled
        for client in clients:  # their connections are gone with the process
            client.join(ctx.timeout)
        failures = ["%s: %s" % (client.name, client.failure) for client in clients
                    if client.failure]
        if failures:
            raise CaseFailure("a client under load saw a wrong byte around SIGTERM: %s"
                              % failures[0])
        if status != 0:
            raise CaseFailure("after SIGTERM under load the server exited with status %s; "
                              "expected 0%s" % (describe_status(status), stderr_block(target.server)))
        after = sum(client.replies for client in clients) - before
        setup.note("%d verified replies, about %d after SIGTERM; exit 0 after %.2f s"
                   % (before + after, after, exited))
    finally:
        stop.set()
        for client in clients:
            client.abort()
            client.join(1)

