# Reference models of the protocols: pure functions, no sockets. Every other
# part of the simulator (run, check, the self-tests) asks these what a correct
# server must answer, so the protocol rules are written down exactly once.
from __future__ import annotations

import struct
from typing import Iterable, List, Tuple

# ---------------------------------------------------------------- shift

SHIFT = "shift"
FRAMED = "framed"
PACKET = "packet"
LINE = "line"

SHIFT_GREETING = b"*"
MESSAGE_START = ord("^")
MESSAGE_END = ord("$")

# bytes.translate() with this table adds one (mod 256) to every byte, at C
# speed, which matters for the 1 MiB cases.
_SHIFT_TABLE = bytes((value + 1) % 256 for value in range(256))


def shift_bytes(data: bytes) -> bytes:
    """Return `data` with every byte b replaced by (b + 1) mod 256."""
    return bytes(data).translate(_SHIFT_TABLE)


class ShiftModel:
    """Incremental model of one shift connection, fed the client's bytes.

    The connection starts outside a message. `feed(chunk)` returns exactly
    the bytes a correct server answers to `chunk`, given everything fed
    before; `greeting` is what it sends on accept, before any input.
    """

    greeting = SHIFT_GREETING
    closed = False  # shift has no error: the server never closes first

    def __init__(self) -> None:
        self.in_message = False

    def feed(self, chunk: bytes) -> bytes:
        reply = bytearray()
        for byte in chunk:
            if not self.in_message:
                if byte == MESSAGE_START:
                    self.in_message = True
            elif byte == MESSAGE_END:
                self.in_message = False
            else:
                reply.append((byte + 1) % 256)
        return bytes(reply)


def expected_reply(stream: bytes) -> bytes:
    """Everything a correct shift server sends on a connection whose client
    sends `stream` (in any split): the greeting `*`, then the replies."""
    return SHIFT_GREETING + ShiftModel().feed(stream)


def shift_message(body: bytes) -> bytes:
    """Wrap `body` (which must not contain `$`) as one message `^body$`."""
    if MESSAGE_END in body:
        raise ValueError("a message body cannot contain '$'")
    return bytes([MESSAGE_START]) + body + bytes([MESSAGE_END])


# ---------------------------------------------------------------- framed

FRAME_HEADER = struct.Struct(">I")  # 4-byte unsigned big-endian length
DEFAULT_MAX_FRAME = 1024 * 1024


def encode_header(length: int) -> bytes:
    """The 4-byte header announcing a payload of `length` bytes."""
    return FRAME_HEADER.pack(length)


def encode_frame(payload: bytes) -> bytes:
    """One frame: header and payload together, ready for a single write."""
    return encode_header(len(payload)) + payload


def encode_frames(payloads: Iterable[bytes]) -> bytes:
    """Several frames back to back (pipelined)."""
    return b"".join(encode_frame(payload) for payload in payloads)


def frame_reply(payload: bytes) -> bytes:
    """The reply frame a correct server sends for a request carrying `payload`."""
    return encode_frame(shift_bytes(payload))


def expected_framed_reply(stream: bytes) -> bytes:
    """Everything a correct framed server sends for `stream` (complete frames
    followed by at most one incomplete one, which gets no reply yet)."""
    payloads, _ = decode_frames(stream)
    return b"".join(frame_reply(payload) for payload in payloads)


class FrameDecoder:
    """Splits a byte stream, fed in arbitrary pieces, into frame payloads.

    `feed(data)` returns the payloads completed by `data`, in order; bytes of
    an incomplete frame wait in `pending` for the next call.
    """

    def __init__(self) -> None:
        self.pending = bytearray()

    def feed(self, data: bytes) -> List[bytes]:
        self.pending += data
        payloads = []
        while len(self.pending) >= FRAME_HEADER.size:
            (length,) = FRAME_HEADER.unpack_from(self.pending)
            end = FRAME_HEADER.size + length
            if len(self.pending) < end:
                break
            payloads.append(bytes(self.pending[FRAME_HEADER.size:end]))
            del self.pending[:end]
        return payloads


def decode_frames(data: bytes) -> Tuple[List[bytes], bytes]:
    """Split `data` into (complete payloads, leftover bytes of a partial frame)."""
    decoder = FrameDecoder()
    payloads = decoder.feed(data)
    return payloads, bytes(decoder.pending)


class FramedModel:
    """Incremental model of one framed connection, with the same interface as
    ShiftModel: no greeting, and `feed(chunk)` returns the reply frames that
    the completed request frames call for. (A frame over --max-frame is
    not modelled: the cases that send one check the close themselves.)"""

    greeting = b""
    closed = False

    def __init__(self) -> None:
        self._decoder = FrameDecoder()

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(frame_reply(payload) for payload in self._decoder.feed(chunk))


# ---------------------------------------------------------------- packet

MIN_PACKET = 2  # a header byte of 0 or 1 is a protocol error
MAX_PACKET = 255  # the largest length one header byte can hold


def encode_packet(body: bytes) -> bytes:
    """One packet: the header byte (the length of the whole packet, header
    included) then `body`, which must be 1..254 bytes long."""
    length = len(body) + 1
    if not MIN_PACKET <= length <= MAX_PACKET:
        raise ValueError("a packet body must be %d..%d bytes, not %d"
                         % (MIN_PACKET - 1, MAX_PACKET - 1, len(body)))
    return bytes([length]) + body


def encode_packets(bodies: Iterable[bytes]) -> bytes:
    """Several packets back to back (pipelined)."""
    return b"".join(encode_packet(body) for body in bodies)


class ClosingModel:
    """What the models of the protocols whose server closes first (packet,
    line) share, with the interface of ShiftModel: the bytes of a request
    not yet complete wait in `pending`, and once `closed` is set (the server
    closes after sending the replies returned so far) everything fed gets
    no reply. A subclass's _replies() answers the complete requests at the
    front of `pending`, removing them."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.closed = False

    def feed(self, chunk: bytes) -> bytes:
        if self.closed:
            return b""
        self.pending += chunk
        return bytes(self._replies())

    def _replies(self) -> bytearray:
        raise NotImplementedError

    def _close(self) -> None:
        """A protocol error: the connection ends, and what was pending with it."""
        self.closed = True
        self.pending.clear()


class PacketModel(ClosingModel):
    """Incremental model of one packet connection (interface as ShiftModel).

    No greeting; every complete packet is echoed unchanged. A header byte of
    0 or 1 ends the connection: `feed` returns the echoes of the packets
    before it and sets `closed` (the server closes after sending them), and
    everything fed after that gets no reply. An incomplete packet waits in
    `pending`.
    """

    greeting = b""

    def _replies(self) -> bytearray:
        reply = bytearray()
        while self.pending:
            length = self.pending[0]
            if length < MIN_PACKET:
                self._close()
                break
            if len(self.pending) < length:
                break
            reply += self.pending[:length]
            del self.pending[:length]
        return reply


# ---------------------------------------------------------------- line

LINE_GREETING = b"+OK ready\r\n"
DEFAULT_MAX_LINE = 512  # the servers' --max-line default
MIN_MAX_LINE = 16  # the servers' --max-line range
MAX_MAX_LINE = 65536
REPLY_OK = b"+OK\r\n"
REPLY_BYE = b"+OK bye\r\n"
REPLY_UNKNOWN = b"-ERR unknown command\r\n"
REPLY_TOO_LONG = b"-ERR line too long\r\n"


def line_text_too_long(unterminated: bytes, max_line: int) -> bool:
    """Whether bytes buffered with no LF yet already make a line over
    `max_line`. A trailing CR does not count yet: it may be the one CR
    that the LF to come strips."""
    text_length = len(unterminated) - (1 if unterminated.endswith(b"\r") else 0)
    return text_length > max_line


def line_reply(line: bytes) -> Tuple[bytes, bool]:
    """(reply, close) for one line, its LF and the one CR before it removed.

    The command word is the text up to the first space, any case. `ECHO`
    answers `+OK` and everything after its four letters verbatim.
    """
    word = line.split(b" ", 1)[0].upper()
    if word == b"ECHO":
        return b"+OK" + line[4:] + b"\r\n", False
    if word == b"NOOP":
        return REPLY_OK, False
    if word == b"QUIT":
        return REPLY_BYE, True
    return REPLY_UNKNOWN, False


class LineModel(ClosingModel):
    """Incremental model of one line connection (interface as ShiftModel).

    The greeting is `+OK ready\\r\\n`; each complete line gets one reply. After
    QUIT or a line over `max_line` bytes, `closed` is set (the server closes
    after sending the replies returned so far) and later input gets no reply.
    """

    greeting = LINE_GREETING

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        super().__init__()
        self.max_line = max_line

    def _replies(self) -> bytearray:
        reply = bytearray()
        while not self.closed:
            end = self.pending.find(b"\n")
            if end < 0:
                if line_text_too_long(self.pending, self.max_line):
                    reply += self._too_long()
                break
            line = bytes(self.pending[:end])
            del self.pending[:end + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_line:
                reply += self._too_long()
                break
            answer, self.closed = line_reply(line)
            reply += answer
        return reply

    def _too_long(self) -> bytes:
        self._close()
        return REPLY_TOO_LONG


# Protocol name -> model class, for code that works with any protocol.
MODELS = {SHIFT: ShiftModel, FRAMED: FramedModel, PACKET: PacketModel, LINE: LineModel}


def new_model(protocol: str, max_line: int = DEFAULT_MAX_LINE):
    """A fresh model of `protocol`; `max_line` is the line server's limit."""
    if protocol == LINE:
        return LineModel(max_line)
    return MODELS[protocol]()


def expected_stream_reply(protocol: str, stream: bytes, max_line: int = DEFAULT_MAX_LINE) -> bytes:
    """Everything a correct server of `protocol` sends for client bytes `stream`."""
    model = new_model(protocol, max_line)
    return model.greeting + model.feed(stream)
