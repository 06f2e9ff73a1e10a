# The table of hostile cases (see sim_hostile.py) and what a case receives:
# a Setup that starts fresh servers through sim_server's launcher, each
# wrapped in a Target that gives its clients check's Context. A separate
# table from check's (sim_registry): these cases start servers of their own
# and must never run inside check. Also LoadThread, the round-trip loop of
# sigterm-under-load's clients, which the chat clients (sim_hostile_chat)
# share with the others (sim_hostile_cases).
from __future__ import annotations

import random
import shutil
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from sim_hostile_process import MeasuredServer
from sim_net import CaseFailure
from sim_protocols import DEFAULT_MAX_FRAME, FRAMED, LINE, PACKET, SHIFT
from sim_registry import Context
from sim_server import ServerError, describe_status, server_command

# The chat room's protocol (docs/part2_chat.md): framed messages that the
# server delivers to every other client and never answers. It has no
# reference model in sim_protocols (a sender gets nothing back); its clients
# are in sim_hostile_chat.
CHAT = "chat"
PROTOCOLS = (SHIFT, FRAMED, PACKET, LINE, CHAT)
STDERR_LINES_SHOWN = 12


# ------------------------------------------------------ the table of cases

@dataclass(frozen=True)
class HostileCase:
    name: str
    function: Callable[["Setup"], None]
    description: str
    protocols: Tuple[str, ...]
    # (protocol, why the case cannot apply to it): such a run prints
    # `SKIP name: not for PROTOCOL: reason`, so no case is dropped silently.
    not_for: Tuple[Tuple[str, str], ...] = ()

    def reason_not_for(self, protocol: str) -> Optional[str]:
        return dict(self.not_for).get(protocol)


ALL_CASES: List[HostileCase] = []  # every protocol's, in registration order


def hostile_case(name: str, not_for: Optional[Dict[str, str]] = None):
    """Decorator: register the function as hostile case `name` for every
    protocol but those of `not_for`, {protocol: why it cannot apply}. The
    docstring's first line is its --list description. Cases run in
    registration order."""
    excluded = dict(not_for or {})
    unknown = set(excluded) - set(PROTOCOLS)
    assert not unknown, "unknown protocol(s) %s" % unknown

    def register(function: Callable[["Setup"], None]):
        description = (function.__doc__ or "").strip().split("\n")[0]
        protocols = tuple(protocol for protocol in PROTOCOLS if protocol not in excluded)
        ALL_CASES.append(HostileCase(name, function, description, protocols,
                                     tuple(excluded.items())))
        return function
    return register


def hostile_cases(protocol: str) -> List[HostileCase]:
    """The cases that apply to `protocol`, in registration order."""
    return [case for case in ALL_CASES if protocol in case.protocols]


def hostile_command(spec: str, protocol: str) -> List[str]:
    """The argv of a server under test: sim_server's `BINARY --port 0
    --protocol P [ARGS]`, except for chat, whose server speaks only chat
    and refuses --protocol (docs/conventions.md: an option a server cannot
    honour is not offered)."""
    if protocol != CHAT:
        return server_command(spec, protocol)
    argv = server_command(spec, FRAMED)
    index = argv.index("--protocol")
    return argv[:index] + argv[index + 2:]


# ------------------------------------------------------ what a case gets

class Target:
    """One server a case started, and a Context for its clients (the same
    clients, probes and logging as check's cases)."""

    def __init__(self, server: MeasuredServer, ctx: Context) -> None:
        self.server = server
        self.ctx = ctx
        # Set once the case has dealt with the server's exit (it stopped the
        # server itself, or reported its death), so the runner stays quiet.
        self.exit_accounted = False

    def require_alive(self, after: str) -> None:
        status = self.server.exit_status()
        if status is not None:
            self.exit_accounted = True
            raise CaseFailure("the server process exited with status %s %s%s"
                              % (describe_status(status), after, stderr_block(self.server)))


@dataclass
class Setup:
    """What a hostile case receives: how to start the server under test,
    and how long a socket wait may take.

    `one_at_a_time`: the server serves one client at a time, so the cases
    leave out their bystander (a client that must be served while a hostile
    one is connected) and say so in the PASS line.
    """

    spec: str
    protocol: str
    timeout: float
    verbose: bool = False
    one_at_a_time: bool = False
    targets: List[Target] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def start(self, *options: str, nofile: Optional[int] = None) -> Target:
        """Start a fresh server with `options` added to its command line,
        under `prlimit --nofile=N:N` when `nofile` is given. It is stopped
        when the case ends. Raises CaseFailure if it does not start (an
        option it does not know, for instance)."""
        argv = hostile_command(self.spec, self.protocol) + list(options)
        if nofile is not None:
            prlimit = shutil.which("prlimit")
            if prlimit is None:
                raise CaseFailure("prlimit (util-linux) is not installed; it is needed to start "
                                  "the server with a small descriptor limit")
            # prlimit sets the limit and then execs the server: same PID.
            argv = [prlimit, "--nofile=%d:%d" % (nofile, nofile), "--"] + argv
        server = MeasuredServer(argv)
        try:
            address = server.start()
        except ServerError as error:
            server.close()
            added = " (started with %s)" % " ".join(options) if options else ""
            raise CaseFailure("the server did not start%s: %s" % (added, error)) from None
        ctx = Context(protocol=self.protocol, address=address, timeout=self.timeout,
                      max_frame=DEFAULT_MAX_FRAME, server=server, verbose=self.verbose)
        if self.verbose:
            ctx.log("started %s" % server.description)
        target = Target(server, ctx)
        self.targets.append(target)
        return target

    def note(self, text: str) -> None:
        """A remark shown after the time in the case's PASS line."""
        self.notes.append(text)

    def without_bystander(self) -> bool:
        """True (and noted) when the case must leave out its bystander."""
        if self.one_at_a_time:
            self.note("no bystander: the server serves one client at a time")
        return self.one_at_a_time


class LoadThread(threading.Thread):
    """A load client of sigterm-under-load: makes round trips as fast as
    the server answers, checking every byte that arrives, until the case
    sets `stop` or the server closes the connection. A close (EOF or reset)
    at any point is fine; a wrong byte is not.

    What the case reads: `replies` (verified round trips so far), `failure`
    (None, or the CaseFailure's reason), `ended` (how the loop ended) and
    the thread's name. A subclass says what a round trip is: connect()
    (False if the server closed first), send_request(rng) (sends one
    request and returns what receive_answer needs to check its answer),
    receive_answer(sent) (False if the server closed first), abort() (from
    the case's thread) and close()."""

    def __init__(self, name: str, index: int, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.index = index
        self.stop = stop
        self.replies = 0  # complete, verified round trips
        self.failure: Optional[str] = None
        self.ended = ""

    def run(self) -> None:
        try:
            self.ended = self._round_trips(random.Random(self.index))
        except CaseFailure as failure:
            self.failure = str(failure)
        finally:
            self.close()

    def _round_trips(self, rng: random.Random) -> str:
        """Round trips until the case stops them or the server closes;
        returns how they ended."""
        if not self.connect():
            return "closed before the greeting"
        while not self.stop.is_set():
            try:
                sent = self.send_request(rng)
            except OSError as error:
                return "sending failed: %s" % (error.strerror or error)
            if not self.receive_answer(sent):
                return "closed by the server"
            self.replies += 1
        return "stopped by the case"

    def connect(self) -> bool:
        raise NotImplementedError

    def send_request(self, rng: random.Random) -> Any:
        raise NotImplementedError

    def receive_answer(self, sent: Any) -> bool:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def stderr_block(server: MeasuredServer, lines: int = STDERR_LINES_SHOWN) -> str:
    """The tail of a server's stderr, indented, for a failure message."""
    tail = server.stderr_tail(lines)
    if not tail:
        return ""
    return "\n  server stderr (last lines):\n" + "\n".join("    " + line
                                                         for line in tail.splitlines())
