# Conformance cases of the shift protocol (docs/protocol.md, "shift").
# To show that something gets no reply, a case never sleeps and looks: it
# sends a sentinel message next and requires that the very next bytes to
# arrive are the sentinel's reply.
from __future__ import annotations

from sim_cases_common import (bad_client_harms_nobody, concurrent_clients, exchange,
                              half_close, split_at_every_position)
from sim_net import Client
from sim_protocols import (SHIFT, SHIFT_GREETING, ShiftModel, shift_bytes,
                           shift_message)
from sim_registry import Context, case, probe

SENTINEL = shift_message(b"sentinel")
SENTINEL_REPLY = shift_bytes(b"sentinel")

# The original series' client script, whole: it starts and ends outside a
# message, so it can be repeated on one connection.
TRICKY_INPUT = b"^abc$de^abte$f" + b"xyz^123" + b"25$^ab0000$abab"

CONCURRENT_CLIENTS = 8
LARGE_MESSAGE_SIZE = 1024 * 1024
MANY_MESSAGES = 1000
MISBEHAVIOUR_SIZE = 64 * 1024  # bytes a bad client sends before leaving


def all_bytes_except(excluded: bytes) -> bytes:
    """Every byte value 0..255 once, in order, except those in `excluded`."""
    return bytes(value for value in range(256) if value not in excluded)


def message_body(size: int, seed: int = 0) -> bytes:
    """`size` varied bytes without `$`, usable inside one message."""
    period = all_bytes_except(b"$")
    rotated = period[seed % len(period):] + period[:seed % len(period)]
    return (rotated * (size // len(rotated) + 1))[:size]


def greeted_client(ctx: Context, name: str) -> Client:
    """A connected client that has received the greeting."""
    client = ctx.client(name)
    try:
        client.expect(SHIFT_GREETING, "the greeting '*'")
    except BaseException:
        client.close()
        raise
    return client


def expect_sentinel(client: Client, after: str) -> None:
    """Send the sentinel message; its reply must be the very next bytes.

    Only valid outside a message. Anything the server sent in error before
    it shows up as a mismatch here, with no need to wait for silence.
    """
    client.send(SENTINEL, "sentinel")
    client.expect(SENTINEL_REPLY, "the reply to the sentinel %r sent %s (anything else arriving "
                  "first was sent in error)" % (SENTINEL, after))


@probe(SHIFT)
def shift_probe(ctx: Context, client_name: str) -> None:
    """A fresh client gets the greeting and a correct reply."""
    with greeted_client(ctx, client_name) as client:
        exchange(client, ShiftModel(), shift_message(b"probe"), "a fresh client")


@case(SHIFT, "greeting")
def greeting(ctx: Context) -> None:
    """'*' is the first byte, sent before the client sends anything, and alone."""
    with ctx.client("client") as client:
        client.expect(SHIFT_GREETING, "the greeting '*', which the server must send on accept "
                      "before the client sends anything")
        expect_sentinel(client, "after the greeting")


@case(SHIFT, "outside-ignored")
def outside_ignored(ctx: Context) -> None:
    """Bytes outside messages (every value but '^') get no reply."""
    with greeted_client(ctx, "client") as client:
        client.send(b"xyz$")
        client.send(b"abc" + all_bytes_except(b"^"))
        expect_sentinel(client, "after 'xyz$' and every byte value but '^', all outside messages")


@case(SHIFT, "dollar-outside-ignored")
def dollar_outside_ignored(ctx: Context) -> None:
    """'$' outside a message is an ordinary ignored byte, not an end."""
    with greeted_client(ctx, "client") as client:
        client.send(b"$")
        client.send(b"$$$")
        exchange(client, ShiftModel(), b"^a$$b$c", "'$' right after a message and 'b$c' outside")
        expect_sentinel(client, "after '$'s outside messages")


@case(SHIFT, "caret-inside-message")
def caret_inside_message(ctx: Context) -> None:
    """'^' inside a message is an ordinary byte, answered '_'."""
    with greeted_client(ctx, "client") as client:
        model = ShiftModel()
        exchange(client, model, b"^a^b$", "'^' inside a message")
        exchange(client, model, b"^^^$", "'^' right after the start")
        expect_sentinel(client, "after messages containing '^'")


@case(SHIFT, "byte-wrap")
def byte_wrap(ctx: Context) -> None:
    """All byte values but '$' in one message; 0xFF is answered 0x00."""
    with greeted_client(ctx, "client") as client:
        exchange(client, ShiftModel(), shift_message(all_bytes_except(b"$")),
                 "one message holding every byte value but '$'")
        expect_sentinel(client, "after the all-bytes message")


@case(SHIFT, "original-tester1")
def original_tester1(ctx: Context) -> None:
    """The original series' server-test.py, client_tester1, one send at a time."""
    # Where the original waited and saw nothing, the next expected reply is
    # the sentinel: it must be the very next thing to arrive.
    with greeted_client(ctx, "tester1") as client:
        model = ShiftModel()
        for request in (b"abcdef", b"^", b"f", b"1234", b"$", b"1234", b"^", b"xy"):
            exchange(client, model, request, "original tester1 step %r" % request)
        client.send(b"$")
        expect_sentinel(client, "at the end of tester1")


@case(SHIFT, "original-tester2")
def original_tester2(ctx: Context) -> None:
    """The original series' server-test.py, client_tester2: '^ab$^kl$^80$50'."""
    with greeted_client(ctx, "tester2") as client:
        exchange(client, ShiftModel(), b"^ab$^kl$^80$50", "original tester2")
        expect_sentinel(client, "after tester2's input (nothing more may arrive)")


@case(SHIFT, "many-messages-one-send")
def many_messages_one_send(ctx: Context) -> None:
    """A thousand messages, with bytes between them, in one send."""
    pieces = []
    for index in range(MANY_MESSAGES):
        pieces.append(b"-" * (index % 3))  # ignored bytes between messages
        pieces.append(shift_message(message_body(index % 41, seed=index)))
    stream = b"".join(pieces)
    with greeted_client(ctx, "client") as client:
        writer = client.send_in_background(stream)
        client.expect(ShiftModel().feed(stream), "the replies to %d messages sent in one send"
                      % MANY_MESSAGES)
        writer.finish()
        expect_sentinel(client, "after the many messages")


@case(SHIFT, "split-two-sends")
def split_two_sends(ctx: Context) -> None:
    """The original client's input split in two sends at every position."""
    with greeted_client(ctx, "client") as client:
        split_at_every_position(ctx, client, TRICKY_INPUT)
        expect_sentinel(client, "after every split")


@case(SHIFT, "one-byte-at-a-time")
def one_byte_at_a_time(ctx: Context) -> None:
    """The original client's input sent one byte per send."""
    with greeted_client(ctx, "client") as client:
        model = ShiftModel()
        for index in range(len(TRICKY_INPUT)):
            byte = TRICKY_INPUT[index:index + 1]
            exchange(client, model, byte, "byte %d of %r, sent alone" % (index, TRICKY_INPUT))
        expect_sentinel(client, "after the byte-by-byte input")


@case(SHIFT, "large-message")
def large_message(ctx: Context) -> None:
    """A 1 MiB message, its reply read while it is still being sent."""
    body = message_body(LARGE_MESSAGE_SIZE)
    with greeted_client(ctx, "client") as client:
        writer = client.send_in_background(shift_message(body))
        client.expect(shift_bytes(body), "the reply to a %d-byte message (read while sending)"
                      % len(body))
        writer.finish()
        expect_sentinel(client, "after the large message")


@case(SHIFT, "concurrent-clients")
def concurrent(ctx: Context) -> None:
    """8 clients at once, each with its own messages, get exactly their own replies."""
    requests = []
    for index in range(CONCURRENT_CLIENTS):
        body = (b"client %d says " % index) + message_body(1000 + 300 * index, seed=17 * index)
        requests.append(shift_message(body) + b"between" + shift_message(b"%d" % index))
    concurrent_clients(ctx, requests)


@case(SHIFT, "half-close")
def half_closed(ctx: Context) -> None:
    """After '^abc$^de' and shutdown(SHUT_WR) the client still gets '*bcdef', then EOF."""
    half_close(ctx, b"^abc$^de")


@case(SHIFT, "close-mid-message")
def close_mid_message(ctx: Context) -> None:
    """A client closing in the middle of a message harms nobody."""
    bad_client_harms_nobody(ctx, b"^abc", message_body(MISBEHAVIOUR_SIZE), "close")


@case(SHIFT, "reset-mid-message")
def reset_mid_message(ctx: Context) -> None:
    """A client resetting (RST) in the middle of a message harms nobody."""
    bad_client_harms_nobody(ctx, b"^abc", message_body(MISBEHAVIOUR_SIZE), "reset")

