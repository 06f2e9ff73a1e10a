# Conformance cases of the line protocol (docs/protocol.md, "line"): a
# greeting, then one reply per LF-terminated command line, `-ERR line too
# long` and a close for a line over --max-line, and a close after QUIT.
# "Nothing else arrives" is shown with a sentinel command whose reply must
# be the very next bytes, never by waiting for silence.
from __future__ import annotations

from typing import List

from sim_cases_common import (bad_client_harms_nobody, concurrent_clients, exchange,
                              half_close, protocol_error_closes_only_its_connection,
                              send_byte_by_byte, split_at_every_position)
from sim_net import Client
from sim_protocols import (LINE, LINE_GREETING, REPLY_BYE, REPLY_TOO_LONG, REPLY_UNKNOWN,
                           LineModel)
from sim_registry import Context, case, probe, run_probe

SENTINEL = b"ECHO sentinel\r\n"
SENTINEL_REPLY = b"+OK sentinel\r\n"

CONCURRENT_CLIENTS = 8
PIPELINED_LINES = 1000
MISBEHAVIOUR_TEXT = 100  # bytes of an unfinished line a bad client leaves behind


def text_bytes(size: int, seed: int = 0) -> bytes:
    """`size` printable bytes without CR or LF, different for each seed."""
    period = bytes(range(0x21, 0x7F))
    start = seed % len(period)
    rotated = period[start:] + period[:start]
    return (rotated * (size // len(rotated) + 1))[:size]


def every_byte_but_lf() -> bytes:
    """Every byte value but LF once, in order (so CR, NUL and 0xFF appear
    inside the line, and the line does not end in CR)."""
    return bytes(value for value in range(256) if value != 0x0A)


def echo(text: bytes, ending: bytes = b"\r\n") -> bytes:
    return b"ECHO " + text + ending


def greeted_client(ctx: Context, name: str) -> Client:
    """A connected client that has received the greeting."""
    client = ctx.client(name)
    try:
        client.expect(LINE_GREETING, "the greeting %r" % LINE_GREETING)
    except BaseException:
        client.close()
        raise
    return client


def expect_sentinel(client: Client, after: str) -> None:
    """Send the sentinel command; its reply must be the very next bytes."""
    client.send(SENTINEL, "sentinel")
    client.expect(SENTINEL_REPLY, "the reply to the sentinel %r sent %s (anything else arriving "
                  "first was sent in error)" % (SENTINEL, after))


def exchange_each(ctx: Context, client: Client, lines: List[bytes], what: str) -> None:
    """Send the lines one at a time, each answered before the next goes."""
    model = LineModel(ctx.max_line)
    for line in lines:
        exchange(client, model, line, what)


def longest_echo(ctx: Context, seed: int = 0) -> bytes:
    """An ECHO line of exactly --max-line bytes, without its ending."""
    return b"ECHO " + text_bytes(ctx.max_line - len(b"ECHO "), seed)


@probe(LINE)
def line_probe(ctx: Context, client_name: str) -> None:
    """A fresh client gets the greeting and a correct reply."""
    with greeted_client(ctx, client_name) as client:
        exchange(client, LineModel(ctx.max_line), echo(b"probe"), "a fresh client")


@case(LINE, "greeting")
def greeting(ctx: Context) -> None:
    """'+OK ready\\r\\n' comes first, sent on accept before the client sends anything, and alone."""
    with ctx.client("client") as client:
        client.expect(LINE_GREETING, "the greeting %r, which the server must send on accept "
                      "before the client sends anything" % LINE_GREETING)
        expect_sentinel(client, "after the greeting")


@case(LINE, "echo-and-noop")
def echo_and_noop(ctx: Context) -> None:
    """ECHO answers '+OK' and everything after its 4 letters verbatim; NOOP answers '+OK'."""
    every_byte = every_byte_but_lf()[:ctx.max_line - len(b"ECHO ")]
    lines = [echo(b"hello world"), b"ECHO\r\n", b"ECHO  two  spaces \r\n", echo(every_byte),
             b"NOOP\r\n"]
    with greeted_client(ctx, "client") as client:
        exchange_each(ctx, client, lines, "ECHO and NOOP, one at a time")
        expect_sentinel(client, "after ECHO and NOOP")


@case(LINE, "line-endings")
def line_endings(ctx: Context) -> None:
    """A bare LF ends a line too; only one CR before the LF is stripped, other CRs are kept."""
    lines = [echo(b"bare LF", b"\n"), echo(b"CRLF"), b"NOOP\n", echo(b"two CRs", b"\r\r\n"),
             echo(b"inner\rCR"), echo(b"\r"), b"\n"]
    with greeted_client(ctx, "client") as client:
        exchange_each(ctx, client, lines, "lines ended by LF and by CRLF")
        expect_sentinel(client, "after lines with every ending")


@case(LINE, "case-insensitive")
def case_insensitive(ctx: Context) -> None:
    """Command words match in any case: echo, Echo, eChO, noop, NoOp."""
    lines = [echo(b"lower").replace(b"ECHO", b"echo"), b"Echo Mixed Case\r\n", b"eChO x\n",
             b"noop\r\n", b"NoOp\r\n"]
    with greeted_client(ctx, "client") as client:
        exchange_each(ctx, client, lines, "a command word in another case")
        expect_sentinel(client, "after commands in mixed case")


@case(LINE, "unknown-command")
def unknown_command(ctx: Context) -> None:
    """Unknown commands and empty lines get '-ERR unknown command'; the connection stays open."""
    lines = [b"HELLO\r\n", b"\r\n", b"\n", b"ECHOX\r\n", b"ECHO\tx\r\n", b" ECHO x\r\n",
             b"NOOPS\r\n", b"QUITS\r\n", b"QUIT!\r\n"]
    with greeted_client(ctx, "client") as client:
        for line in lines:
            client.send(line, "an unknown command")
            client.expect(REPLY_UNKNOWN, "the reply to %r, which is no command (the connection "
                          "must stay open)" % line)
        expect_sentinel(client, "after the unknown commands")


@case(LINE, "one-byte-at-a-time")
def one_byte_at_a_time(ctx: Context) -> None:
    """Four commands sent one byte per send; each reply comes when its LF arrives."""
    stream = b"ECHO one\r\nnoop\nBAD\r\nECHO\r\n"
    with greeted_client(ctx, "client") as client:
        send_byte_by_byte(client, LineModel(ctx.max_line), stream)
        expect_sentinel(client, "after the byte-by-byte input")


@case(LINE, "split-every-position")
def split_every_position(ctx: Context) -> None:
    """Four commands (CRLF and LF endings) split in two sends at every position."""
    stream = b"ECHO hi\r\nNOOP\nxyz\r\necho Last one\r\n"
    with greeted_client(ctx, "client") as client:
        split_at_every_position(ctx, client, stream)
        expect_sentinel(client, "after every split")


@case(LINE, "pipelined")
def pipelined(ctx: Context) -> None:
    """1000 commands of every kind in one send; the replies arrive complete and in order."""
    longest_text = min(ctx.max_line - len(b"ECHO "), 200)
    lines = []
    for index in range(PIPELINED_LINES):
        kind = index % 5
        if kind == 0:
            lines.append(b"NOOP\r\n")
        elif kind == 1:
            lines.append(b"unknown %d\n" % index)
        else:
            ending = b"\n" if kind == 2 else b"\r\n"
            lines.append(echo(text_bytes(index % (longest_text + 1), seed=index), ending))
    stream = b"".join(lines)
    with greeted_client(ctx, "client") as client:
        writer = client.send_in_background(stream)
        client.expect(LineModel(ctx.max_line).feed(stream), "the replies to %d pipelined "
                      "commands (%d bytes), in order" % (PIPELINED_LINES, len(stream)))
        writer.finish()
        expect_sentinel(client, "after the pipelined commands")


@case(LINE, "max-line")
def max_line(ctx: Context) -> None:
    """Lines of exactly --max-line bytes (CR and LF not counted) are answered."""
    lines = [longest_echo(ctx, seed=1) + b"\r\n", longest_echo(ctx, seed=2) + b"\n"]
    with greeted_client(ctx, "client") as client:
        exchange_each(ctx, client, lines, "a line of exactly --max-line = %d bytes" % ctx.max_line)
        expect_sentinel(client, "after the longest allowed lines")


@case(LINE, "max-line-cr-split")
def max_line_cr_split(ctx: Context) -> None:
    """A line of exactly --max-line bytes whose CR and LF arrive apart is answered."""
    with greeted_client(ctx, "client") as client:
        model = LineModel(ctx.max_line)
        # The NOOP's reply shows that the server has read the send that ends
        # in the CR before the LF is sent.
        exchange(client, model, b"NOOP\r\n" + longest_echo(ctx) + b"\r",
                 "NOOP, then a line of exactly --max-line = %d bytes and its CR: the CR may be "
                 "the one that ends the line, so the line is not too long yet" % ctx.max_line)
        exchange(client, model, b"\n", "the LF ending that line, sent on its own")
        expect_sentinel(client, "after a line split between CR and LF")


def line_too_long(ctx: Context, stream: bytes, what: str, allow_reset: bool) -> None:
    """A client sends `stream`, which ends in (or with) a line over
    --max-line: it must get the greeting and the replies the model
    predicts, ending in `-ERR line too long`, then EOF, and only its
    connection may close."""
    model = LineModel(ctx.max_line)
    expected = LINE_GREETING + model.feed(stream)
    assert model.closed and expected.endswith(REPLY_TOO_LONG)

    def start(bad: Client) -> None:
        bad.send(stream, what)

    def finish(bad: Client) -> None:
        bad.expect(expected, "the greeting and the replies to %s, the last one %r"
                   % (what, REPLY_TOO_LONG))
        bad.expect_eof("after %r" % REPLY_TOO_LONG, allow_reset=allow_reset)

    protocol_error_closes_only_its_connection(ctx, what, start, finish)


@case(LINE, "line-too-long")
def line_too_long_no_lf(ctx: Context) -> None:
    """--max-line + 1 bytes and no LF: '-ERR line too long' at once, then close; others unharmed."""
    stream = longest_echo(ctx) + b"x"
    # The server has read every byte when it closes: an orderly close.
    line_too_long(ctx, stream, "a line of %d bytes with no LF (the server must not wait for "
                  "one)" % len(stream), allow_reset=False)


@case(LINE, "line-too-long-with-lf")
def line_too_long_with_lf(ctx: Context) -> None:
    """NOOP, then a line over --max-line with its CRLF, in one send: '+OK', '-ERR line too long'."""
    long_line = longest_echo(ctx) + b"xy"
    stream = b"NOOP\r\n" + long_line + b"\r\n"
    # Seeing more than --max-line bytes is enough, so the server may close
    # before it reads the CRLF, and unread bytes make the close a reset.
    line_too_long(ctx, stream, "NOOP then a line of %d bytes and CRLF, in one send"
                  % len(long_line), allow_reset=True)


@case(LINE, "quit")
def quit_closes(ctx: Context) -> None:
    """QUIT gets '+OK bye', then the server closes the connection."""
    with greeted_client(ctx, "client") as client:
        exchange(client, LineModel(ctx.max_line), b"ECHO before\r\n", "a command before QUIT")
        client.send(b"QUIT\r\n", "QUIT")
        client.expect(REPLY_BYE, "the reply to QUIT")
        client.expect_eof("after '+OK bye' (QUIT closes the connection)")
    run_probe(ctx, "client-after")


@case(LINE, "bytes-after-quit")
def bytes_after_quit(ctx: Context) -> None:
    """'ECHO a', 'quit', 'ECHO b' in one send: '+OK a', '+OK bye', then close; 'ECHO b' ignored."""
    stream = b"ECHO a\r\nquit\r\nECHO b\r\n"
    with greeted_client(ctx, "client") as client:
        client.send(stream, "commands after QUIT in the same send")
        client.expect(LineModel(ctx.max_line).feed(stream), "the replies up to and including "
                      "QUIT's (bytes after QUIT are ignored)")
        # The server may close with 'ECHO b' unread, which is a reset.
        client.expect_eof("after '+OK bye', with no reply to the command after QUIT",
                          allow_reset=True)


@case(LINE, "concurrent-clients")
def concurrent(ctx: Context) -> None:
    """8 clients at once, each with its own commands, get exactly their own replies."""
    longest_text = ctx.max_line - len(b"ECHO ")
    requests = []
    for index in range(CONCURRENT_CLIENTS):
        lines = [echo(b"client %d" % index), b"NOOP\r\n"]
        lines += [echo(text_bytes(min(longest_text, 20 * count), seed=index + count), b"\n")
                  for count in range(1, 10)]
        requests.append(b"".join(lines))
    concurrent_clients(ctx, requests)


@case(LINE, "half-close")
def half_closed(ctx: Context) -> None:
    """Commands, an unfinished line, then shutdown(SHUT_WR): every complete line answered, EOF."""
    half_close(ctx, b"ECHO one\r\nNOOP\nbad\r\nECHO unfinished")


@case(LINE, "close-mid-line")
def close_mid_line(ctx: Context) -> None:
    """A client closing in the middle of a line harms nobody."""
    partial = echo(text_bytes(min(MISBEHAVIOUR_TEXT, ctx.max_line - 10)), b"")
    bad_client_harms_nobody(ctx, b"ECHO abc\r\n", partial, "close")


@case(LINE, "reset-mid-line")
def reset_mid_line(ctx: Context) -> None:
    """A client resetting (RST) in the middle of a line harms nobody."""
    partial = echo(text_bytes(min(MISBEHAVIOUR_TEXT, ctx.max_line - 10)), b"")
    bad_client_harms_nobody(ctx, b"ECHO abc\r\n", partial, "reset")
