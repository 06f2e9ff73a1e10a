# The hostile suite's clients for the chat protocol (docs/part2_chat.md):
# frames as in framed, but a server delivers each frame to every OTHER
# client in the room and never answers its sender. So "served" cannot mean
# "my request got its reply"; here it means: of a pair of clients in the
# room, one sends a frame and the other receives exactly that frame, and
# meanwhile nothing but frames from the clients the case expects.
#
# Every frame the suite sends carries its sender's name, `NAME: ...` (as
# chat-client's `--name` does), so a receiver can tell an expected sender's
# frame from a stray or corrupted one.
#
# Joining: the protocol has no acknowledgement, so a client learns that the
# server has put someone in the room when that one's hello frame reaches
# it; hellos are re-sent every HELLO_RESEND seconds until one does (as
# chat-stress does). A frame the server delivered came from a member: a
# chat server joins a client before it reads from it.
from __future__ import annotations

import random
import select
import threading
import time
from collections import deque
from typing import Deque, Dict, Iterable, List, Optional, Set, Tuple

from sim_cases_framed import payload_bytes
from sim_hostile_registry import LoadThread
from sim_net import CaseFailure, Client, abbreviate
from sim_protocols import FrameDecoder, encode_frame
from sim_registry import Context

HELLO_RESEND = 0.05  # seconds between two hellos of a client not yet seen
RECV_SIZE = 256 * 1024


def chat_payload(sender: str, text: bytes) -> bytes:
    """A payload that names its sender: `NAME: text`."""
    return sender.encode() + b": " + text


def hello_payload(sender: str) -> bytes:
    return chat_payload(sender, b"hello")


def sender_of(payload: bytes) -> Optional[str]:
    """The NAME of a `NAME: ...` payload (None if it names nobody)."""
    name, separator, _ = bytes(payload[:64]).partition(b": ")
    return name.decode("ascii", "replace") if separator else None


class ChatModel:
    """What a chat server sends a client in answer to that client's own
    bytes: nothing at all (no greeting; frames go to the others). Has the
    interface of sim_protocols' models, for the cases that trickle bytes."""

    greeting = b""
    closed = False

    def feed(self, chunk: bytes) -> bytes:
        return b""


class ChatMember:
    """One chat client: a Client plus a frame decoder for what it receives."""

    def __init__(self, ctx: Context, name: str) -> None:
        self.name = name
        self.client: Client = ctx.unconnected_client(name)
        self.timeout = ctx.timeout
        self.hello = hello_payload(name)
        self.ended = False  # the server closed the connection (EOF or reset)
        self._decoder = FrameDecoder()
        self._frames: Deque[bytes] = deque()

    # -- lifetime

    def connect(self) -> "ChatMember":
        self.client.connect()
        return self

    def close(self) -> None:
        self.client.close()

    def reset(self) -> None:
        self.client.reset()

    # -- sending

    def send_text(self, text: bytes, what: str) -> bytes:
        """Send one frame `NAME: text`; returns its payload."""
        payload = chat_payload(self.name, text)
        self.client.send(encode_frame(payload), what)
        return payload

    # -- receiving

    def receive_some(self, wait: float) -> bool:
        """One receive into the decoder if the server sends something within
        `wait` seconds; whether it did. EOF or a reset sets `ended`."""
        sock = self.client.sock
        if sock is None or self.ended:
            return False
        readable, _, _ = select.select([sock], [], [], max(0.0, wait))
        if not readable:
            return False
        try:
            chunk = sock.recv(RECV_SIZE)
        except OSError:
            chunk = b""
        if not chunk:
            self.ended = True
            self.client.log("the server closed the connection")
            return True
        self._frames.extend(self._decoder.feed(chunk))
        return True

    def next_frame(self, wait: float) -> Optional[bytes]:
        """The next frame received, waiting up to `wait` seconds; None if
        none came (`ended` says whether the server closed instead)."""
        deadline = time.monotonic() + wait
        while not self._frames and not self.ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.receive_some(remaining)
        return self._frames.popleft() if self._frames else None

    def check_sender(self, frame: bytes, senders: Iterable[str], waiting_for: str) -> None:
        """Fail unless `frame` comes from one of `senders` (and not from
        this client itself: a frame never goes back to its sender)."""
        sender = sender_of(frame)
        if sender == self.name:
            raise CaseFailure("%s: received its own frame back, %s, while waiting for %s (a chat "
                              "server never sends a frame to its sender)"
                              % (self.name, abbreviate(frame), waiting_for))
        if sender not in set(senders):
            raise CaseFailure("%s: received a frame from no client of this case, %s, while "
                              "waiting for %s (expected only frames from %s)"
                              % (self.name, abbreviate(frame), waiting_for,
                                 ", ".join(sorted(set(senders)))))

    def expect(self, payload: bytes, what: str, senders: Iterable[str],
               timeout: Optional[float] = None) -> None:
        """Receive frames until one is exactly `payload`; any other frame
        must come from one of `senders`."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        waiting_for = "%s, the frame %s" % (what, abbreviate(payload))
        while True:
            frame = self.next_frame(deadline - time.monotonic())
            if frame == payload:
                return
            if frame is None:
                if self.ended:
                    raise CaseFailure("%s: the server closed the connection while we waited for %s"
                                      % (self.name, waiting_for))
                raise CaseFailure("%s: timed out after %.1f s waiting for %s"
                                  % (self.name, wait, waiting_for))
            self.check_sender(frame, senders, waiting_for)

    def closed_within(self, wait: float, senders: Iterable[str]) -> bool:
        """Whether the server closes the connection within `wait` seconds
        (returns as soon as it does); frames from `senders` may come first."""
        deadline = time.monotonic() + wait
        while True:
            frame = self.next_frame(max(0.0, deadline - time.monotonic()))
            if frame is None:
                return self.ended
            self.check_sender(frame, senders, "the server to close the connection")


def join(announcers: List[ChatMember], readers: List[ChatMember], timeout: float,
         senders: Iterable[str]) -> None:
    """Return once every announcer's hello has reached a reader other than
    itself: then the server has each announcer in the room. Frames from
    `senders` (or an announcer's repeated hello) may arrive meanwhile."""
    known = set(senders) | {member.name for member in announcers}
    unseen: Dict[str, ChatMember] = {member.name: member for member in announcers}
    last_hello: Dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while unseen:
        now = time.monotonic()
        if now >= deadline:
            raise CaseFailure("the hello frame of %s reached no other client in %.1f s (re-sent "
                              "every %.2f s): the server did not deliver it"
                              % (", ".join(sorted(unseen)), timeout, HELLO_RESEND))
        for member in unseen.values():
            if now - last_hello.get(member.name, -HELLO_RESEND) >= HELLO_RESEND:
                member.send_text(b"hello", "its hello, to join the room")
                last_hello[member.name] = now
        socks = {reader.client.sock: reader for reader in readers}
        readable, _, _ = select.select(list(socks), [], [], HELLO_RESEND)
        for sock in readable:
            reader = socks[sock]
            reader.receive_some(0)
            while True:
                frame = reader.next_frame(0)
                if frame is None:
                    break
                reader.check_sender(frame, known, "the hellos of %s" % ", ".join(sorted(unseen)))
                sender = sender_of(frame)
                if sender in unseen and frame == unseen[sender].hello:
                    del unseen[sender]
            if reader.ended:
                raise CaseFailure("%s: the server closed the connection while clients joined the "
                                  "room" % reader.name)


class ChatPair:
    """Two clients in the room, `NAME-a` and `NAME-b`: served means each
    round trip's frame, sent by one of them (in turn), reaches the other
    exactly. `senders`: the other clients of the case whose frames they
    may also receive (the case's own hostile clients)."""

    def __init__(self, ctx: Context, name: str, senders: Iterable[str] = ()) -> None:
        self.a = ChatMember(ctx, name + "-a")
        self.b = ChatMember(ctx, name + "-b")
        self.timeout = ctx.timeout
        self.senders: Set[str] = {self.a.name, self.b.name} | set(senders)
        self.rounds = 0

    def connect(self) -> "ChatPair":
        self.a.connect()
        self.b.connect()
        join([self.a, self.b], [self.a, self.b], self.timeout, self.senders)
        return self

    def round_trip(self, body: bytes, what: str) -> None:
        sender, receiver = (self.a, self.b) if self.rounds % 2 == 0 else (self.b, self.a)
        payload = sender.send_text(body, what)
        receiver.expect(payload, "%s (sent by %s)" % (what, sender.name), self.senders)
        self.rounds += 1

    def closed_within(self, wait: float) -> Optional[str]:
        """The name of a member the server closes within `wait` seconds, or None."""
        for member, member_wait in ((self.a, wait), (self.b, 0.0)):
            if member.closed_within(member_wait, self.senders):
                return member.name
        return None

    def abort(self) -> None:
        self.a.client.abort_from_other_thread()
        self.b.client.abort_from_other_thread()

    def close(self) -> None:
        self.a.close()
        self.b.close()


def chat_probe(ctx: Context, name: str, senders: Iterable[str] = ()) -> None:
    """A fresh pair joins the room and one frame goes from one to the other."""
    pair = ChatPair(ctx, name, senders)
    try:
        pair.connect()
        pair.round_trip(b"probe", "a frame between two fresh clients")
    finally:
        pair.close()


# ------------------------------------------------------ sigterm-under-load

def load_payload(sender: str, seq: int, size: int) -> bytes:
    """Frame `seq` of a load client: `NAME: SEQ ` then a pattern that
    depends on both, so a torn or shifted frame cannot pass."""
    head = chat_payload(sender, b"%d " % seq)
    return head + payload_bytes(max(0, size - len(head)), seed=seq * 7 + len(sender))


class ChatLoadPair(LoadThread):
    """Two load clients in ping-pong as fast as the room delivers, from one
    thread (a LoadThread whose round trip is a frame from one member to the
    other): each frame's receiver must get it before it sends its own. Both
    check every frame they receive, from any load client: whole, from the
    right sender, and in that sender's order."""

    def __init__(self, ctx: Context, index: int, stop: threading.Event, senders: Set[str],
                 size_limit: int) -> None:
        super().__init__("load-pair-%d" % index, index, stop)
        self.pair = ChatPair(ctx, "load-%d" % index, senders)
        self.size_limit = size_limit
        self._sent = {self.pair.a.name: 0, self.pair.b.name: 0}  # frames each member sent
        self._next_seq: Dict[str, Dict[str, int]] = {self.pair.a.name: {}, self.pair.b.name: {}}

    def connect(self) -> bool:
        self.pair.connect()
        return True

    def send_request(self, rng: random.Random) -> Tuple[ChatMember, bytes]:
        sender, receiver = ((self.pair.a, self.pair.b) if self.replies % 2 == 0
                            else (self.pair.b, self.pair.a))
        payload = load_payload(sender.name, self._sent[sender.name],
                               rng.randint(16, self.size_limit))
        self._sent[sender.name] += 1
        sender.client.sock.sendall(encode_frame(payload))  # type: ignore[union-attr]
        return receiver, payload

    def receive_answer(self, sent: Tuple[ChatMember, bytes]) -> bool:
        """Check every frame the receiver gets until the payload sent; False
        if the server closes the connection first."""
        receiver, payload = sent
        while True:
            frame = receiver.next_frame(receiver.timeout)
            if frame is None:
                if receiver.ended:
                    return False
                raise CaseFailure("%s: timed out after %.1f s waiting for %s"
                                  % (receiver.name, receiver.timeout, abbreviate(payload)))
            self._verify(receiver, frame)
            if frame == payload:
                return True

    def _verify(self, receiver: ChatMember, frame: bytes) -> None:
        receiver.check_sender(frame, self.pair.senders, "load frames")
        sender = sender_of(frame) or ""
        if frame == hello_payload(sender):
            return
        head, _, _ = frame.partition(b" ")
        try:
            seq = int(frame[len(head) + 1:].split(b" ", 1)[0])
        except ValueError:
            seq = -1
        if seq < 0 or frame != load_payload(sender, seq, len(frame)):
            raise CaseFailure("%s: a wrong frame from %s: %s" % (receiver.name, sender,
                                                                 abbreviate(frame)))
        expected = self._next_seq[receiver.name].get(sender)
        if expected is not None and seq != expected:
            raise CaseFailure("%s: frame %d of %s came after frame %d: frames lost or out of "
                              "order" % (receiver.name, seq, sender, expected - 1))
        self._next_seq[receiver.name][sender] = seq + 1

    def abort(self) -> None:
        self.pair.abort()

    def close(self) -> None:
        self.pair.close()
