# Reference models of the protocols: pure functions, no sockets. Every other
# part of the simulator (run, check, the self-tests) asks these what a correct
# server must answer, so the protocol rules are written down exactly once.
from __future__ import annotations

import struct
from typing import Iterable, List, Tuple

# ---------------------------------------------------------------- shift

SHIFT = "shift"
FRAMED = "framed"

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
    the completed request frames call for."""

    greeting = b""

    def __init__(self) -> None:
        self._decoder = FrameDecoder()

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(frame_reply(payload) for payload in self._decoder.feed(chunk))


# Protocol name -> model class, for code that works with any protocol.
MODELS = {SHIFT: ShiftModel, FRAMED: FramedModel}


def expected_stream_reply(protocol: str, stream: bytes) -> bytes:
    """Everything a correct server of `protocol` sends for client bytes `stream`."""
    model = MODELS[protocol]()
    return model.greeting + model.feed(stream)
