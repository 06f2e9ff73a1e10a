# Case building blocks that do not depend on the protocol (many concurrent
# clients, a misbehaving client, a protocol error that must close only its
# own connection, input one byte per send or split in two sends, half-close),
# plus the cases every protocol shares. Every helper here passes against a server that serves one client
# at a time: a client that needs another to finish first waits for it with a
# timeout scaled by the number of clients ahead of it.
from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional

from sim_net import CaseFailure, Client, abbreviate
from sim_protocols import (FRAMED, LINE, PACKET, SHIFT, encode_frame, encode_packet, new_model,
                           shift_message)
from sim_registry import ANY_PROTOCOL, Context, case, run_probe
from sim_server import describe_status

SHUTDOWN_DEADLINE = 5.0  # seconds a server gets to exit 0 after SIGTERM
GRACE_PROBE_DELAY = 0.5  # seconds into the shutdown grace period a request is sent
# How long a server that check started gets to crash after a client
# misbehaved. There is no sentinel for "the process did not die": a threaded
# server may crash a moment after a fresh client was already served.
CRASH_GRACE = 0.25
CLIENT_JOIN_MARGIN = 5.0  # extra seconds to wait for a client thread to end
# How many round trips a bystander makes while waiting for a server to show
# that it serves another client at the same time (see protocol_error_...),
# and how long each round then waits for the other client's reply: together
# about a second, so that a busy machine's scheduler cannot hide a server
# that serves both at once (and the bug of one that then closes both).
BYSTANDER_ROUNDS = 100
BYSTANDER_ROUND_WAIT = 0.01  # seconds
# Pause after a byte sent alone that gets no reply, so that the server most
# likely reads it alone too (see send_byte_by_byte). Pacing only: a correct
# server passes whatever it reads together.
BYTE_PACING = 0.002


def model_for(ctx: Context):
    """A fresh reference model (see sim_protocols) of ctx.protocol."""
    return new_model(ctx.protocol, ctx.max_line)


def exchange(client: Client, model, request: bytes, what: str,
             timeout: Optional[float] = None) -> None:
    """Send `request` and require exactly the reply the model predicts."""
    client.send(request, what)
    reply = model.feed(request)
    client.expect(reply, "the reply to %s (%s)" % (abbreviate(request), what), timeout)


def send_byte_by_byte(client: Client, model, stream: bytes) -> None:
    """Send `stream` one byte per send, requiring each reply as soon as the
    byte that completes its request has gone.

    A byte that completes nothing has no reply to wait for, and bytes sent
    back to back may reach the server in one read; the short pause after
    such a byte makes the server see the pieces one by one, which is what
    this is meant to test.
    """
    for index in range(len(stream)):
        byte = stream[index:index + 1]
        reply = model.feed(byte)
        client.send(byte, "byte %d of %s, sent alone" % (index, abbreviate(stream)))
        if reply:
            client.expect(reply, "the reply completed by byte %d of %s, sent alone"
                          % (index, abbreviate(stream)))
        else:
            time.sleep(BYTE_PACING)


def split_at_every_position(ctx: Context, client: Client, stream: bytes) -> None:
    """Send `stream` in two sends, split at each position in turn, each
    time on a fresh model of ctx.protocol: the stream must end where it
    began, between requests, so that the next split starts clean.

    Waiting for the replies to the requests the first part completes (when
    it completes any) makes sure the server has seen the split, whatever
    TCP would coalesce.
    """
    for split in range(1, len(stream)):
        model = model_for(ctx)
        what = "stream %s split at byte %d" % (abbreviate(stream), split)
        exchange(client, model, stream[:split], what + ", first part")
        exchange(client, model, stream[split:], what + ", second part")


def expect_greeting(client: Client, model, timeout: Optional[float] = None,
                    what: str = "the greeting") -> None:
    """Require the protocol's greeting (nothing, for protocols without one)."""
    if model.greeting:
        client.expect(model.greeting, "%s %s" % (what, abbreviate(model.greeting)), timeout)


def sample_request(protocol: str, body: bytes) -> bytes:
    """One complete request of `protocol` carrying `body` (short and
    printable: it must fit a packet and a line)."""
    builders = {SHIFT: shift_message, FRAMED: encode_frame, PACKET: encode_packet,
                LINE: lambda text: b"ECHO " + text + b"\r\n"}
    return builders[protocol](body)


# ------------------------------------------------------ concurrent clients

def concurrent_clients(ctx: Context, requests: List[bytes]) -> None:
    """One client per request, all connected at once; each independently
    waits for its greeting, sends its request, reads its whole reply and
    closes. Every client must get exactly its own reply.

    All clients connect before any of them sends, so a threaded server has
    them all open at the same time. A sequential server serves them one
    after another: a client may wait behind all the others, so its first
    wait is ctx.queue_timeout(len(requests) - 1).
    """
    count = len(requests)
    queue_wait = ctx.queue_timeout(count - 1)
    clients = [ctx.unconnected_client("client%d" % index) for index in range(count)]
    all_connected = threading.Barrier(count)
    failures: List[str] = []
    lock = threading.Lock()

    def fail(reason: str) -> None:
        with lock:
            failures.append(reason)
        all_connected.abort()
        for other in clients:  # end the case now rather than after timeouts
            other.abort_from_other_thread()

    def serve(index: int) -> None:
        client, request, model = clients[index], requests[index], model_for(ctx)
        try:
            client.connect(queue_wait)
            all_connected.wait(queue_wait)
            what = "client %d of %d running at once" % (index, count)
            if model.greeting:
                behind = "the greeting (this client may wait behind %d others)" % (count - 1)
                expect_greeting(client, model, queue_wait, behind)
                exchange(client, model, request, what)
            else:
                exchange(client, model, request, what, queue_wait)
        except threading.BrokenBarrierError:
            pass  # another client failed first; its reason is the one reported
        except CaseFailure as failure:
            fail(str(failure))
        except OSError as error:
            fail("client%d: %s" % (index, error))
        finally:
            client.close()

    threads = [threading.Thread(target=serve, args=(index,), name="client%d" % index, daemon=True)
               for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * queue_wait + CLIENT_JOIN_MARGIN)
    hung = [thread.name for thread in threads if thread.is_alive()]
    if hung:
        for client in clients:
            client.abort_from_other_thread()
        raise CaseFailure("client threads did not finish: %s" % ", ".join(hung))
    if failures:
        # Only the first failure is news: the later ones are usually the
        # other clients being stopped because of it.
        raise CaseFailure(failures[0])


# ------------------------------------------------------ misbehaving clients

def require_server_survived(ctx: Context, event: str) -> None:
    """Fail if the server that check started exits within CRASH_GRACE
    seconds (it returns at once if the server dies sooner). With --address
    there is no process to watch, and the probe that follows must do."""
    if ctx.server is None:
        return
    status = ctx.server.wait(CRASH_GRACE)
    if status is not None:
        raise CaseFailure("the server process exited with status %s after %s"
                          % (describe_status(status), event))


def bad_client_harms_nobody(ctx: Context, serving_request: bytes, partial: bytes,
                            ending: str) -> None:
    """A client that leaves in the middle of a request must not harm others.

    The bad client first gets its greeting and one reply to
    `serving_request` (so the server is surely serving it, even a sequential
    one), then sends `partial` (an unfinished request) as far as the kernel
    takes it without blocking, and leaves: `ending` is "reset" (RST, via
    SO_LINGER {1, 0}) or "close" (FIN). Then a fresh client must be served.
    """
    model = model_for(ctx)
    with ctx.client("bad-client") as bad:
        expect_greeting(bad, model)
        exchange(bad, model, serving_request, "proves that the server is serving this client")
        bad.send_nowait(partial)
        if ending == "reset":
            bad.reset()
        else:
            bad.close()
    require_server_survived(ctx, "a client %s mid-request" % (
        "reset its connection" if ending == "reset" else "closed its connection"))
    run_probe(ctx, "fresh-client-after-%s" % ("a-reset" if ending == "reset" else "a-close"))


def protocol_error_closes_only_its_connection(ctx: Context, what: str,
                                              start_bad: Callable[[Client], None],
                                              finish_bad: Callable[[Client], None]) -> None:
    """A client's protocol error (`what`) must close its connection only.

    A bystander client is served first. Then the bad client connects and
    `start_bad(bad)` sends its input (without waiting for anything);
    `finish_bad(bad)` later requires the replies and the close it must get.

    While the bystander stays open, a server that serves clients at the same
    time answers the bad client: the bystander makes round trips until the
    bad client has something to read, then `finish_bad` runs, and after the
    bad connection was closed the bystander must still be served. A server
    that serves one client at a time never answers the bad client while the
    bystander is open; after BYSTANDER_ROUNDS round trips the bystander
    leaves and `finish_bad` runs then. Either way the server must survive
    and serve a fresh client afterwards.
    """
    model = model_for(ctx)
    with ctx.client("bystander") as bystander:
        expect_greeting(bystander, model)
        exchange(bystander, model, sample_request(ctx.protocol, b"before"),
                 "a client connected before the bad one")
        with ctx.client("bad-client") as bad:
            start_bad(bad)
            served_at_once = False
            for round_trip in range(BYSTANDER_ROUNDS):
                exchange(bystander, model, sample_request(ctx.protocol, b"ping %d" % round_trip),
                         "the bystander, while another client sends %s" % what)
                if bad.has_data(BYSTANDER_ROUND_WAIT):
                    served_at_once = True
                    break
            if served_at_once:
                finish_bad(bad)
                # A server that closed every connection would fail here.
                exchange(bystander, model, sample_request(ctx.protocol, b"still here"),
                         "the bystander, after the server closed the connection of a client "
                         "that sent %s" % what)
            else:
                bystander.close()  # lets a server that serves one at a time get to it
                finish_bad(bad)
    require_server_survived(ctx, "a client sent %s" % what)
    run_probe(ctx, "client-after")


# ------------------------------------------------------ half-close

def half_close(ctx: Context, stream: bytes) -> None:
    """The client sends `stream`, then shuts down its sending side; it must
    still receive every reply (greeting included) and then EOF."""
    model = model_for(ctx)
    expected = model.greeting + model.feed(stream)
    with ctx.client("half-closer") as client:
        client.send(stream)
        client.shutdown_write()
        client.expect(expected, "every reply to %s after the client half-closed (shutdown(SHUT_WR))"
                      % abbreviate(stream))
        client.expect_eof("after it answered everything a half-closed client sent")


# ------------------------------------------------------ cases for every protocol

@case(ANY_PROTOCOL, "graceful-shutdown", needs_server=True)
def graceful_shutdown(ctx: Context) -> None:
    """On SIGTERM the server stops accepting, still serves the client it has
    for its grace period, then closes it and exits with status 0."""
    assert ctx.server is not None
    model = model_for(ctx)
    with ctx.client("open-at-shutdown") as client:
        expect_greeting(client, model)
        exchange(client, model, sample_request(ctx.protocol, b"before"), "before SIGTERM")
        ctx.server.terminate()
        # No event tells a client that the server has handled SIGTERM, and a
        # request sent at once could be answered before it does. A server
        # without a grace period closes its connections as soon as it handles
        # the signal, so a request sent this far into the (2 s default) grace
        # period tells the two apart.
        time.sleep(GRACE_PROBE_DELAY)
        exchange(client, model, sample_request(ctx.protocol, b"after"),
                 "a request sent %.1f s after SIGTERM (open connections get a grace period)"
                 % GRACE_PROBE_DELAY)
        client.expect_eof("when the shutdown grace period ends (the client stays silent)",
                          timeout=SHUTDOWN_DEADLINE, allow_reset=True)
    status = ctx.server.wait(SHUTDOWN_DEADLINE)
    if status is None:
        raise CaseFailure("the server did not exit within %.1f s of closing its last client "
                          "after SIGTERM" % SHUTDOWN_DEADLINE)
    if status != 0:
        raise CaseFailure("after SIGTERM the server exited with status %s; expected 0"
                          % describe_status(status))
