# Conformance cases of the framed protocol (docs/protocol.md, "framed").
# As for shift, "nothing else arrives" is shown with a sentinel: a request
# whose reply must be the very next bytes, never by waiting for silence.
from __future__ import annotations

from itertools import combinations
from typing import List, Sequence

from sim_cases_common import (bad_client_harms_nobody, concurrent_clients, exchange,
                              half_close, require_server_survived, split_at_every_position)
from sim_net import Client
from sim_protocols import (FRAMED, FramedModel, encode_frame, encode_frames, encode_header,
                           frame_reply)
from sim_registry import Context, case, probe, run_probe

SENTINEL = encode_frame(b"sentinel")

CONCURRENT_CLIENTS = 8
PIPELINED_FRAMES = 50
MISBEHAVIOUR_ANNOUNCED = 100 * 1000  # length a bad client announces...
MISBEHAVIOUR_SENT = 50 * 1000  # ...and how much of it it sends before leaving


def payload_bytes(size: int, seed: int = 0) -> bytes:
    """`size` varied bytes (all 256 values occur), different for each seed."""
    period = bytes((seed + value) % 256 for value in range(256))
    return (period * (size // 256 + 1))[:size]


def varied_payloads(count: int, limit: int) -> List[bytes]:
    """`count` payloads of varied sizes up to `limit`, including empty ones."""
    sizes = [0 if index % 10 == 0 else min(limit, (index * 97) % 1500) for index in range(count)]
    return [payload_bytes(size, seed=index) for index, size in enumerate(sizes)]


def cut(data: bytes, positions: Sequence[int]) -> List[bytes]:
    """Cut `data` at the given increasing positions into len(positions)+1 pieces."""
    bounds = [0, *positions, len(data)]
    return [data[start:end] for start, end in zip(bounds, bounds[1:])]


def expect_sentinel(client: Client, after: str) -> None:
    """Send the sentinel frame; its reply must be the very next bytes."""
    client.send(SENTINEL, "sentinel")
    client.expect(frame_reply(b"sentinel"), "the reply to the sentinel frame sent %s (anything "
                  "else arriving first was sent in error)" % after)


@probe(FRAMED)
def framed_probe(ctx: Context, client_name: str) -> None:
    """A fresh client gets a correct reply."""
    with ctx.client(client_name) as client:
        exchange(client, FramedModel(), encode_frame(b"probe"), "a fresh client")


@case(FRAMED, "no-greeting")
def no_greeting(ctx: Context) -> None:
    """No greeting: the first bytes a client receives are its first reply."""
    with ctx.client("client") as client:
        client.send(SENTINEL, "the first request")
        client.expect(frame_reply(b"sentinel"), "the reply to the first request, as the very "
                      "first bytes on the connection (framed has no greeting)")


@case(FRAMED, "zero-length")
def zero_length(ctx: Context) -> None:
    """A zero-length frame is valid and gets an empty reply frame 00 00 00 00."""
    with ctx.client("client") as client:
        exchange(client, FramedModel(), encode_frame(b""), "an empty frame")
        expect_sentinel(client, "after the empty frame")


@case(FRAMED, "header-split")
def header_split(ctx: Context) -> None:
    """Header and payload cut into up to 5 sends, at every set of boundaries."""
    frame = encode_frame(b"header-split")
    boundaries = (1, 2, 3, 4)  # inside the 4-byte header, and header|payload
    with ctx.client("client") as client:
        model = FramedModel()
        for count in range(len(boundaries) + 1):
            for positions in combinations(boundaries, count):
                for index, piece in enumerate(cut(frame, positions)):
                    exchange(client, model, piece, "piece %d of the frame cut at %s"
                             % (index, list(positions)))
        expect_sentinel(client, "after the split headers")


@case(FRAMED, "split-every-position")
def split_every_position(ctx: Context) -> None:
    """Three frames (one empty) split in two sends at every position."""
    stream = encode_frames([b"hello", b"", b"world!", bytes([255, 0, 36, 94])])
    with ctx.client("client") as client:
        split_at_every_position(ctx, client, stream)
        expect_sentinel(client, "after every split")


@case(FRAMED, "pipelined")
def pipelined(ctx: Context) -> None:
    """50 frames of varied sizes (some empty) in one send; replies in order."""
    stream = encode_frames(varied_payloads(PIPELINED_FRAMES, ctx.max_frame))
    with ctx.client("client") as client:
        writer = client.send_in_background(stream)
        client.expect(FramedModel().feed(stream), "the replies to %d pipelined frames, in order"
                      % PIPELINED_FRAMES)
        writer.finish()
        expect_sentinel(client, "after the pipelined frames")


@case(FRAMED, "max-frame")
def max_frame(ctx: Context) -> None:
    """A frame of exactly --max-frame bytes is served (read while sending)."""
    payload = payload_bytes(ctx.max_frame)
    with ctx.client("client") as client:
        writer = client.send_in_background(encode_frame(payload))
        client.expect(frame_reply(payload), "the reply to a frame of exactly --max-frame = %d bytes"
                      % ctx.max_frame)
        writer.finish()
        expect_sentinel(client, "after the largest allowed frame")


@case(FRAMED, "oversized-frame")
def oversized_frame(ctx: Context) -> None:
    """A frame over --max-frame gets no reply and closes that connection only."""
    size = ctx.max_frame + 1
    model = FramedModel()
    with ctx.client("client-before") as before:
        exchange(before, model, encode_frame(b"before"), "a client connected before the bad one")
        with ctx.client("oversized-client") as bad:
            writer = bad.send_in_background(encode_header(size) + bytes(size), ignore_errors=True)
            # A server that closed every connection would fail this exchange.
            exchange(before, model, encode_frame(b"still here"),
                     "the earlier client, after another client sent an oversized frame")
            # Closing it lets a sequential server get to the bad client.
            before.close()
            bad.expect_eof("after a header announcing %d bytes, one over --max-frame = %d (it "
                           "must send nothing for that frame)" % (size, ctx.max_frame),
                           allow_reset=True)
            writer.finish()
    require_server_survived(ctx, "a client sent an oversized frame")
    run_probe(ctx, "client-after")


@case(FRAMED, "concurrent-clients")
def concurrent(ctx: Context) -> None:
    """8 clients at once, each with its own frames, get exactly their own replies."""
    requests = []
    for index in range(CONCURRENT_CLIENTS):
        size = min(ctx.max_frame, 1000 + 300 * index)
        payloads = [b"client %d" % index, payload_bytes(size, seed=index), b""]
        requests.append(encode_frames(payloads))
    concurrent_clients(ctx, requests)


@case(FRAMED, "half-close")
def half_closed(ctx: Context) -> None:
    """Pipelined frames then shutdown(SHUT_WR): every reply still arrives, then EOF."""
    half_close(ctx, encode_frames(varied_payloads(10, ctx.max_frame)))


@case(FRAMED, "close-mid-frame")
def close_mid_frame(ctx: Context) -> None:
    """A client closing in the middle of a frame harms nobody."""
    partial = encode_header(MISBEHAVIOUR_ANNOUNCED) + payload_bytes(MISBEHAVIOUR_SENT)
    bad_client_harms_nobody(ctx, encode_frame(b"abc"), partial, "close")


@case(FRAMED, "reset-mid-frame")
def reset_mid_frame(ctx: Context) -> None:
    """A client resetting (RST) in the middle of a frame harms nobody."""
    partial = encode_header(MISBEHAVIOUR_ANNOUNCED) + payload_bytes(MISBEHAVIOUR_SENT)
    bad_client_harms_nobody(ctx, encode_frame(b"abc"), partial, "reset")
