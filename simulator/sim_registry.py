# The table of conformance cases, per protocol, and what a case receives to
# run. A protocol's cases live in their own module (sim_cases_<protocol>.py)
# and register themselves here with @case, so adding a protocol means adding
# one module and importing it in sim_check.py.
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from sim_net import Client
from sim_protocols import DEFAULT_MAX_LINE
from sim_server import ServerProcess

# Cases registered under this name run for every protocol.
ANY_PROTOCOL = "*"


@dataclass
class Context:
    """Everything a case needs: where the server is and how long to wait.

    `server` is the process under test when check started it (None with
    --address); `timeout` bounds every wait for progress on a socket;
    `max_frame` and `max_line` are the server's limits (framed, line).
    """

    protocol: str
    address: Tuple[str, int]
    timeout: float
    max_frame: int
    max_line: int = DEFAULT_MAX_LINE
    server: Optional[ServerProcess] = None
    verbose: bool = False
    _started: float = field(default_factory=time.monotonic, init=False, repr=False)
    _print_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def client(self, name: str, connect_timeout: Optional[float] = None) -> Client:
        """A new connected Client (use it in a `with` block)."""
        return self.unconnected_client(name).connect(connect_timeout)

    def unconnected_client(self, name: str) -> Client:
        """A Client that connects when its connect() is called."""
        return Client(self.address, name, self.timeout, self.log if self.verbose else None)

    def queue_timeout(self, clients_ahead: int) -> float:
        """How long a client may wait to be served when `clients_ahead`
        others may be served first (a sequential server serves one at a time)."""
        return self.timeout * (clients_ahead + 1)

    def log(self, text: str) -> None:
        """Verbose trace line (thread-safe), timed from the case start."""
        with self._print_lock:
            print("    %7.3f %s" % (time.monotonic() - self._started, text), flush=True)

    def restart_clock(self) -> None:
        self._started = time.monotonic()


CaseFunction = Callable[[Context], None]
Probe = Callable[[Context, str], None]


@dataclass(frozen=True)
class Case:
    name: str
    function: CaseFunction
    description: str
    needs_server: bool = False  # runs only when check started the server itself


_CASES: Dict[str, List[Case]] = {}
_PROBES: Dict[str, Probe] = {}


def case(protocol: str, name: str,
         needs_server: bool = False) -> Callable[[CaseFunction], CaseFunction]:
    """Decorator: register the function as case `name` of `protocol` (or of
    every protocol with ANY_PROTOCOL). Its docstring's first line is the
    description shown by --list. Cases run in registration order."""
    def register(function: CaseFunction) -> CaseFunction:
        description = (function.__doc__ or "").strip().split("\n")[0]
        _CASES.setdefault(protocol, []).append(Case(name, function, description, needs_server))
        return function
    return register


def probe(protocol: str) -> Callable[[Probe], Probe]:
    """Decorator: register `protocol`'s probe, a function (ctx, client_name)
    that connects a fresh client, requires one correct exchange and closes
    it. Protocol-independent cases use it to show the server still works."""
    def register(function: Probe) -> Probe:
        _PROBES[protocol] = function
        return function
    return register


def protocols() -> List[str]:
    """Names of the protocols that have cases."""
    return sorted(name for name in _CASES if name != ANY_PROTOCOL)


def cases_for(protocol: str) -> List[Case]:
    """The protocol's own cases, then the cases for every protocol."""
    return _CASES.get(protocol, []) + _CASES.get(ANY_PROTOCOL, [])


def run_probe(ctx: Context, client_name: str) -> None:
    """Require that a fresh client of ctx.protocol is served correctly."""
    _PROBES[ctx.protocol](ctx, client_name)
