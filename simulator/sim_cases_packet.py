# Conformance cases of the packet protocol (docs/protocol.md, "packet"): a
# 1-byte header holding the whole packet's length, 2..255, and every packet
# echoed unchanged. As for framed, "nothing else arrives" is shown with a
# sentinel packet whose echo must be the very next bytes, never by waiting
# for silence.
from __future__ import annotations

from typing import List

from sim_cases_common import (bad_client_harms_nobody, concurrent_clients, exchange,
                              half_close, protocol_error_closes_only_its_connection,
                              send_byte_by_byte, split_at_every_position)
from sim_net import Client
from sim_protocols import (MAX_PACKET, MIN_PACKET, PACKET, PacketModel, encode_packet,
                           encode_packets)
from sim_registry import Context, case, probe

SENTINEL = encode_packet(b"sentinel")

CONCURRENT_CLIENTS = 8
PIPELINED_PACKETS = 1000
HALF_CLOSE_PACKETS = 10
LARGEST_BODY = MAX_PACKET - 1  # the header byte counts towards the 255


def packet_body(size: int, seed: int = 0) -> bytes:
    """`size` varied bytes (0x00, 0x01 and 0xFF among them once `size`
    allows), different for each seed: body bytes that look like bad headers
    must not be taken for headers."""
    period = bytes((seed + value) % 256 for value in range(256))
    return (period * (size // 256 + 1))[:size]


def varied_bodies(count: int) -> List[bytes]:
    """`count` bodies whose lengths cycle through every allowed length."""
    return [packet_body(index % LARGEST_BODY + 1, seed=index) for index in range(count)]


def expect_sentinel(client: Client, after: str) -> None:
    """Send the sentinel packet; its echo must be the very next bytes."""
    client.send(SENTINEL, "sentinel")
    client.expect(SENTINEL, "the echo of the sentinel packet sent %s (anything else arriving "
                  "first was sent in error)" % after)


@probe(PACKET)
def packet_probe(ctx: Context, client_name: str) -> None:
    """A fresh client gets its packet echoed."""
    with ctx.client(client_name) as client:
        exchange(client, PacketModel(), encode_packet(b"probe"), "a fresh client")


@case(PACKET, "round-trip")
def round_trip(ctx: Context) -> None:
    """No greeting; packets of 2, 3, 64 and 200 bytes, one at a time, come back unchanged."""
    with ctx.client("client") as client:
        model = PacketModel()
        for index, size in enumerate((1, 2, 63, 199)):
            packet = encode_packet(packet_body(size, seed=index))
            what = "a %d-byte packet" % len(packet)
            if index == 0:
                what += ", whose echo must be the first bytes on the connection (no greeting)"
            exchange(client, model, packet, what)
        expect_sentinel(client, "after the round trips")


@case(PACKET, "every-length")
def every_length(ctx: Context) -> None:
    """Packets of every length from 2 to 255 (header 0xFF), one at a time."""
    with ctx.client("client") as client:
        model = PacketModel()
        for length in range(MIN_PACKET, MAX_PACKET + 1):
            exchange(client, model, encode_packet(packet_body(length - 1, seed=length)),
                     "a packet of %d bytes (header 0x%02X)" % (length, length))
        expect_sentinel(client, "after packets of every length")


@case(PACKET, "one-byte-at-a-time")
def one_byte_at_a_time(ctx: Context) -> None:
    """Three packets sent one byte per send; each echo comes when its last byte arrives."""
    stream = encode_packets([b"a", b"hello", packet_body(40, seed=7)])
    with ctx.client("client") as client:
        send_byte_by_byte(client, PacketModel(), stream)
        expect_sentinel(client, "after the byte-by-byte input")


@case(PACKET, "split-every-position")
def split_every_position(ctx: Context) -> None:
    """Four packets (one of 2 bytes) split in two sends at every position."""
    stream = encode_packets([b"x", b"hello", bytes([0, 1, 255]), b"packet"])
    with ctx.client("client") as client:
        split_at_every_position(ctx, client, stream)
        expect_sentinel(client, "after every split")


@case(PACKET, "pipelined")
def pipelined(ctx: Context) -> None:
    """1000 packets of every length in one send; the echoes arrive complete and in order."""
    stream = encode_packets(varied_bodies(PIPELINED_PACKETS))
    with ctx.client("client") as client:
        writer = client.send_in_background(stream)
        client.expect(PacketModel().feed(stream), "the echoes of %d pipelined packets (%d bytes), "
                      "in order" % (PIPELINED_PACKETS, len(stream)))
        writer.finish()
        expect_sentinel(client, "after the pipelined packets")


def bad_header(ctx: Context, header: int, together: bool) -> None:
    """A client sends a valid packet, then the header byte `header` (0 or
    1): it must get the echo of the valid packet and then EOF, and only its
    connection may close.

    With `together`, both go in one send; otherwise the bad header is sent
    once the echo has arrived, followed by bytes the server must ignore.
    """
    good = encode_packet(b"good")

    def start(bad: Client) -> None:
        bad.send(good + bytes([header]) if together else good)

    def finish(bad: Client) -> None:
        bad.expect(good, "the echo of the valid packet sent before the header byte %d "
                   "(replies to earlier packets still go out)" % header)
        if together:
            bad.expect_eof("after a header byte %d, a protocol error (it must send nothing "
                           "for it)" % header)
        else:
            bad.send(bytes([header]) + b"ignored", "a header byte %d then more bytes" % header)
            # The server may close with "ignored" unread, which is a reset.
            bad.expect_eof("after a header byte %d, a protocol error (it must send nothing "
                           "for it or for the bytes after it)" % header, allow_reset=True)

    protocol_error_closes_only_its_connection(ctx, "a header byte %d" % header, start, finish)


@case(PACKET, "bad-header-0")
def bad_header_0(ctx: Context) -> None:
    """A header byte 0 after a valid packet (one send): the echo, then close; others unharmed."""
    bad_header(ctx, 0, together=True)


@case(PACKET, "bad-header-1")
def bad_header_1(ctx: Context) -> None:
    """A header byte 1 sent on its own, then more bytes: close, no reply; others unharmed."""
    bad_header(ctx, 1, together=False)


@case(PACKET, "concurrent-clients")
def concurrent(ctx: Context) -> None:
    """8 clients at once, each with its own packets, get exactly their own echoes."""
    requests = []
    for index in range(CONCURRENT_CLIENTS):
        bodies = [b"client %d" % index] + varied_bodies(10 + 5 * index)[index:]
        requests.append(encode_packets(bodies))
    concurrent_clients(ctx, requests)


@case(PACKET, "half-close")
def half_closed(ctx: Context) -> None:
    """Packets, an unfinished one, then shutdown(SHUT_WR): every echo arrives, then EOF."""
    unfinished = bytes([MAX_PACKET]) + packet_body(100)  # dropped at EOF, never echoed
    half_close(ctx, encode_packets(varied_bodies(HALF_CLOSE_PACKETS)) + unfinished)


@case(PACKET, "close-mid-packet")
def close_mid_packet(ctx: Context) -> None:
    """A client closing in the middle of a packet harms nobody."""
    bad_client_harms_nobody(ctx, encode_packet(b"abc"), bytes([MAX_PACKET]) + packet_body(100),
                            "close")


@case(PACKET, "reset-mid-packet")
def reset_mid_packet(ctx: Context) -> None:
    """A client resetting (RST) in the middle of a packet harms nobody."""
    bad_client_harms_nobody(ctx, encode_packet(b"abc"), bytes([MAX_PACKET]) + packet_body(100),
                            "reset")
