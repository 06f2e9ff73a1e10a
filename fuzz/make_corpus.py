#!/usr/bin/env python3
"""Writes the seed corpus of every harness: fuzz/corpus/NAME/SEED.

Each seed is one fuzz input in the layout of harness.hpp:
  byte 0     the limit byte (--max-frame or --max-line; ignored by shift, packet)
  byte 1     k: how many chunk-size bytes follow (0..7)
  k bytes    chunk sizes, b meaning b + 1 bytes, used in turn
  the rest   the stream the client sends

The seeds are the protocol examples of docs/protocol.md and their edge
cases; the fuzzer mutates from there. Run it again after changing a seed
here (it rewrites the files; the harness's corpus then holds the same).
"""
import pathlib
import struct

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

WHOLE = []          # the stream in one chunk
BYTES = [0]         # one byte at a time
MIXED = [0, 2, 6]   # chunks of 1, 3, 7, 1, 3, 7, ...

DEFAULT = 0xFF      # the limit byte that means the protocol's default


def seed(limit, sizes, stream):
    assert len(sizes) < 8
    return bytes([limit, len(sizes), *sizes]) + stream


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


SEEDS = {
    "shift": {
        "example": seed(0, WHOLE, b"^abc$de^abte$f" b"xyz^123" b"25$^ab0000$abab"),
        "byte-by-byte": seed(0, BYTES, b"^abc$de^abte$f"),
        "wrap-and-nested": seed(0, MIXED, b"^\xff\x00^$$^^$x"),
        "unfinished": seed(0, MIXED, b"noise^hello"),
    },
    "framed": {
        "example": seed(DEFAULT, WHOLE, frame(b"abc")),
        "pipelined": seed(DEFAULT, MIXED, frame(b"abc") + frame(b"") + frame(b"\xff" * 5)),
        "byte-by-byte": seed(16, BYTES, frame(b"hello") + frame(b"")),
        "over-limit": seed(8, MIXED, frame(b"ok") + frame(b"ninebytes") + frame(b"never")),
        "limit-zero": seed(0, WHOLE, frame(b"") + frame(b"x")),
        "half-header": seed(DEFAULT, BYTES, frame(b"ab") + b"\x00\x00"),
    },
    "frame-codec": {
        "example": seed(DEFAULT, WHOLE, frame(b"abc")),
        "pipelined": seed(DEFAULT, MIXED, frame(b"abc") + frame(b"") + frame(b"xyz" * 4)),
        "exactly-the-limit": seed(4, BYTES, frame(b"four") + frame(b"five!")),
        "huge-header": seed(0xFE, WHOLE, b"\xff\xff\xff\xff" + b"abc"),
        "after-error": seed(2, [1, 0, 3], frame(b"ab") + frame(b"abc") + frame(b"a")),
    },
    "packet": {
        "example": seed(0, [1, 6, 0, 3], b"\x02a" b"\x06hello\x03h" b"i" b"\x02z\x00A"),
        "byte-by-byte": seed(0, BYTES, b"\x02a\x03hi\x02\x00"),
        "largest": seed(0, MIXED, b"\xff" + bytes(range(254)) + b"\x02z"),
        "bad-header-one": seed(0, WHOLE, b"\x02a\x01\x02b"),
        "unfinished": seed(0, WHOLE, b"\x02a\x10abc"),
    },
    "line": {
        "example": seed(DEFAULT, WHOLE, b"ECHO hello world\r\n" b"noop\nHELP\r\n\r\n"
                                        b"ECHO a\r\nQUIT\r\nECHO b\r\n"),
        "byte-by-byte": seed(DEFAULT, BYTES, b"echo x\r\nEcHo\nECHOX\nNOOP y\n"),
        "limit-cr": seed(0, WHOLE, b"ECHO 0123456789a\r\n" b"ECHO 0123456789a\rX\n"),
        "limit-cr-split": seed(0, [15, 0, 0], b"ECHO 0123456789a\r\n"),
        "too-long-no-lf": seed(0, MIXED, b"x" * 40),
        "crs": seed(4, MIXED, b"ECHO \r\r\n\r\n\rQUIT\n"),
    },
    "chat": {
        "example": seed(DEFAULT, WHOLE, frame(b"ann: hello")),
        "pipelined": seed(DEFAULT, MIXED, frame(b"ann: hi") + frame(b"") + frame(b"bob: yo")),
        "byte-by-byte": seed(16, BYTES, frame(b"hello") + frame(b"")),
        "over-limit": seed(8, MIXED, frame(b"ok") + frame(b"ninebytes") + frame(b"never")),
    },
}


def main():
    for harness, seeds in SEEDS.items():
        directory = CORPUS / harness
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (directory / name).write_bytes(data)
    print(f"wrote {sum(len(s) for s in SEEDS.values())} seeds under {CORPUS}")


if __name__ == "__main__":
    main()
