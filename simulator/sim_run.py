# The `run` subcommand: N concurrent clients play a scenario against a
# server, each send and receive is logged with its time, every reply is
# checked against the reference model, and the per-client times go to a JSON
# file that `timeline` draws. Three scenarios:
# - script (the default): the original series' simple-client script, three
#   sends with pauses between them;
# - cpu-heavy: every client connects, and once all are connected they all
#   send their --messages messages at the same moment, in one write each,
#   and read the replies. Against a server started with --work-us W, each
#   message costs W of the server's CPU, so the picture shows how a design
#   spreads that work: one after another on an event loop's single thread,
#   side by side on threads (as far as there are cores);
# - pingpong: each client sends --messages requests one at a time, each
#   after the reply to the last, as part 7's load generator does. With
#   --split-writes each request goes out in two writes (its first byte or
#   frame header, then the rest), and with --nagle the client leaves Nagle's
#   algorithm on: together they show the delayed-ACK stall of part 7's
#   experiment 2, one request per delayed-ACK timeout.
#
# JSON written by --json:
#   {"format": 1, "protocol": "shift", "scenario": "script"|"cpu-heavy"|"pingpong",
#    "split_writes": bool, "nagle": bool,
#    "target": "<what was run against>",
#    "address": "HOST:PORT", "clients": N, "started_at": "<ISO wall clock>",
#    "elapsed": seconds, "ok": bool, "server_cpu": seconds|null,
#    "records": [{"name": "conn0", "connect_start": s, "connected": s,
#                 "first_byte": s, "finished": s, "ok": bool, "error": str|null,
#                 "events": [{"t": s, "dir": "send"|"recv", "data": str}]}]}
# Times are seconds since the run started (time.monotonic); a time is null
# when that moment never came. "data" holds the bytes as a latin-1 string
# (one character per byte): data.encode("latin-1") gives them back.
# "server_cpu" is the CPU time (user + system, all threads) the server had
# used when the clients were done: known only for a server the run started
# itself, on Linux (/proc), and null otherwise.
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Dict, List, Optional, Tuple

from sim_hostile_process import MeasuredServer
from sim_net import CaseFailure
from sim_protocols import FRAMED, MODELS, SHIFT, encode_frames
from sim_server import (ServerError, ServerProcess, describe_status, format_address,
                        parse_address, server_command)

DEFAULT_CLIENTS = 3
SCRIPT = "script"
CPU_HEAVY = "cpu-heavy"
PINGPONG = "pingpong"
DEFAULT_MESSAGES = 4  # per client, in the cpu-heavy and pingpong scenarios
DEFAULT_DELAYS = (1.0, 1.0, 0.2)  # the original script's pauses after each send
DEFAULT_TIMEOUT = 60.0  # longest wait for the server; a sequential one is slow
STOP_MARKER = b"1111"  # the last reply contains it: the reader stops there
RECV_SIZE = 8 * 1024
JSON_FORMAT = 1

EXIT_OK = 0
EXIT_CLIENT_FAILED = 1
EXIT_USAGE = 2


@dataclass
class Step:
    """One write of the script, then a pause. With `await_reply` the client
    first waits until every reply due so far has arrived."""

    data: bytes
    delay: float
    await_reply: bool = False


def shift_script(delays: Tuple[float, ...]) -> List[Step]:
    """The original simple-client.py: the 0000 in the last send comes back
    as 1111, which tells the reader to stop."""
    sends = (b"^abc$de^abte$f", b"xyz^123", b"25$^ab0000$abab")
    return [Step(data, delay) for data, delay in zip(sends, delays)]


def framed_script(delays: Tuple[float, ...]) -> List[Step]:
    """The same script in frames: abc+abte, then xyz123, then 25+ab0000
    (answered bc1111). With no greeting to say "you are being served", the
    client waits for the first reply before its first pause."""
    sends = (encode_frames([b"abc", b"abte"]), encode_frames([b"xyz123"]),
             encode_frames([b"25", b"ab0000"]))
    steps = [Step(data, delay) for data, delay in zip(sends, delays)]
    steps[0].await_reply = True
    return steps


SCRIPTS = {SHIFT: shift_script, FRAMED: framed_script}


def cpu_heavy_payloads(messages: int) -> List[bytes]:
    return [b"work%d" % index for index in range(1, messages + 1)]


def cpu_heavy_steps(protocol: str, messages: int) -> List[Step]:
    """The cpu-heavy scenario's one write: `messages` requests back to back
    (shift ^work1$^work2$..., framed one frame each), so the whole batch is
    in the server's receive queue before it replies to any of them."""
    payloads = cpu_heavy_payloads(messages)
    if protocol == SHIFT:
        data = b"".join(b"^" + payload + b"$" for payload in payloads)
    else:
        data = encode_frames(payloads)
    return [Step(data, 0.0)]


def pingpong_steps(protocol: str, messages: int, split: bool) -> List[Step]:
    """The pingpong scenario: `messages` requests (shift ^ping1$, framed one
    frame each), each sent once the replies to the earlier ones are in. With
    `split`, each request is two writes: the part that asks for nothing yet
    (shift's "^", the frame's 4-byte header), then the rest."""
    steps: List[Step] = []
    for index in range(1, messages + 1):
        payload = b"ping%d" % index
        data = b"^" + payload + b"$" if protocol == SHIFT else encode_frames([payload])
        head = 1 if protocol == SHIFT else len(data) - len(payload)
        if split:
            steps.append(Step(data[:head], 0.0))
            steps.append(Step(data[head:], 0.0, await_reply=True))
        else:
            steps.append(Step(data, 0.0, await_reply=True))
    return steps


@dataclass
class Scenario:
    """What every client of a run plays.

    steps: the writes, with their pauses.
    start_together: the clients send nothing until all of them are
      connected, and do not wait for the greeting first (a server that
      serves one client at a time greets the others only when it gets to
      them); the greeting is still checked with the replies.
    stop_marker: the reader stops once this has arrived (the original
      script's 1111), or, when None, once every reply byte due has.
    """

    steps: List[Step]
    start_together: bool = False
    stop_marker: Optional[bytes] = STOP_MARKER


def make_scenario(name: str, protocol: str, delays: Tuple[float, ...],
                  messages: int, split_writes: bool = False) -> Scenario:
    if name == CPU_HEAVY:
        return Scenario(cpu_heavy_steps(protocol, messages), start_together=True,
                        stop_marker=None)
    if name == PINGPONG:
        return Scenario(pingpong_steps(protocol, messages, split_writes), stop_marker=None)
    return Scenario(SCRIPTS[protocol](delays))


@dataclass
class ClientRecord:
    name: str
    connect_start: Optional[float] = None
    connected: Optional[float] = None
    first_byte: Optional[float] = None
    finished: Optional[float] = None
    ok: bool = False
    error: Optional[str] = None
    events: List[Dict[str, object]] = field(default_factory=list)


class RunLog:
    """The run's clock and its line-buffered, thread-safe log on stdout."""

    def __init__(self, quiet: bool) -> None:
        self.start = time.monotonic()
        self.quiet = quiet
        self._lock = threading.Lock()

    def now(self) -> float:
        return round(time.monotonic() - self.start, 6)

    def say(self, name: str, text: str, at: Optional[float] = None) -> None:
        if self.quiet:
            return
        with self._lock:
            print("%8.3f %s %s" % (self.now() if at is None else at, name, text), flush=True)


class ScriptedClient:
    """One client: connect, wait for the greeting, play the script while a
    reader thread records everything received until the stop marker, close,
    then compare what arrived with the reference model."""

    def __init__(self, name: str, address: Tuple[str, int], protocol: str,
                 scenario: Scenario, log: RunLog, timeout: float,
                 start_line: Optional[threading.Barrier] = None, nagle: bool = False) -> None:
        self.record = ClientRecord(name)
        self.address = address
        self.protocol = protocol
        self.steps = scenario.steps
        self.stop_marker = scenario.stop_marker
        self.start_line = start_line  # passed by every client before sending, if given
        self.passed_start_line = False
        self.nagle = nagle  # leave Nagle's algorithm on (no TCP_NODELAY)
        self.log = log
        self.timeout = timeout
        self.model = MODELS[protocol]()
        everything = MODELS[protocol]()
        self.reply_length = len(everything.greeting) + sum(
            len(everything.feed(step.data)) for step in self.steps)
        self.sent = bytearray()
        self.received = bytearray()
        self.reader_done = False
        self.reader_error: Optional[str] = None
        self.arrived = threading.Condition()
        self.sock: Optional[socket.socket] = None

    def run(self) -> None:
        try:
            self._play()
            self._judge()
        except ClientError as error:
            self.record.error = str(error)
        except OSError as error:
            self.record.error = "%s: %s" % (type(error).__name__, error)
        except threading.BrokenBarrierError:
            self.record.error = ("another client could not connect, or not within %.1f s"
                                 % self.timeout)
        finally:
            if self.start_line is not None and not self.passed_start_line:
                # Frees the others waiting at the start line. Not once it is
                # passed: a client that finished early would break the
                # barrier under one not yet woken from its wait, which then
                # reports a failure of its own.
                self.start_line.abort()
            self._close()
        if self.record.error:
            self.log.say(self.record.name, "FAILED: " + self.record.error)

    def _play(self) -> None:
        name = self.record.name
        self.record.connect_start = self.log.now()
        self.log.say(name, "connecting to %s" % format_address(*self.address))
        self.sock = socket.create_connection(self.address, timeout=self.timeout)
        if not self.nagle:
            # Each write leaves at once: a script's pauses are the only waits.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.record.connected = self.log.now()
        self.log.say(name, "connected")
        reader = threading.Thread(target=self._read, name=name + "-reader", daemon=True)
        reader.start()
        expected = self.model.greeting
        if self.start_line is not None:
            self.start_line.wait(self.timeout)
            self.passed_start_line = True
        else:
            self._wait_for(len(expected), "the greeting %r" % expected)
        for step in self.steps:
            self._note("send", step.data)  # before sending, so the log never shows the reply first
            self.sock.sendall(step.data)
            self.sent += step.data
            expected += self.model.feed(step.data)
            if step.await_reply:
                self._wait_for(len(expected), "the reply to %r" % step.data)
            time.sleep(step.delay)
        reader.join(self.timeout)
        if reader.is_alive():
            raise ClientError("timed out after %.1f s waiting for %s" % (
                self.timeout, "%r in the replies" % self.stop_marker if self.stop_marker
                else "all %d reply bytes" % self.reply_length))

    def _read(self) -> None:
        """Record every chunk received until the stop marker, EOF or an error."""
        assert self.sock is not None
        try:
            while not self._all_arrived():
                chunk = self.sock.recv(RECV_SIZE)
                if not chunk:
                    self.reader_error = "the server closed the connection"
                    break
                self._note("recv", chunk)
                with self.arrived:
                    self.received += chunk
                    self.arrived.notify_all()
        except socket.timeout:
            self.reader_error = "timed out after %.1f s waiting for data" % self.timeout
        except OSError as error:
            self.reader_error = "receiving failed: %s" % error
        finally:
            with self.arrived:
                self.reader_done = True
                self.arrived.notify_all()

    def _all_arrived(self) -> bool:
        if self.stop_marker is not None:
            return self.stop_marker in self.received
        return len(self.received) >= self.reply_length

    def _wait_for(self, count: int, what: str) -> None:
        """Wait until `count` bytes have arrived in total."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count or self.reader_done,
                                  self.timeout)
            if len(self.received) >= count:
                return
            reason = self.reader_error or "timed out after %.1f s" % self.timeout
            raise ClientError("%s while waiting for %s (received %r)"
                              % (reason, what, bytes(self.received)))

    def _note(self, direction: str, data: bytes) -> None:
        at = self.log.now()
        if direction == "recv" and self.record.first_byte is None:
            self.record.first_byte = at
        self.record.events.append({"t": at, "dir": direction, "data": data.decode("latin-1")})
        self.log.say(self.record.name, "%s %r" % ("sent" if direction == "send" else "received",
                                                   data), at)

    def _judge(self) -> None:
        """Compare everything received with the reference model's answer."""
        fresh = MODELS[self.protocol]()
        expected = fresh.greeting + fresh.feed(bytes(self.sent))
        if bytes(self.received) != expected:
            raise ClientError("wrong reply: expected %r, received %r"
                              % (expected, bytes(self.received)))
        self.record.ok = True

    def _close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # wakes the reader, if still reading
            except OSError:
                pass
            self.sock.close()
        self.record.finished = self.log.now()
        self.log.say(self.record.name, "closed")


class ClientError(Exception):
    """A client could not complete its script; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--clients", type=int, default=DEFAULT_CLIENTS, metavar="N",
                        help="concurrent clients (default %(default)s)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--server", metavar='"BINARY [ARGS]"',
                        help="start this server on port 0 for the run, stop it after")
    target.add_argument("--address", metavar="HOST:PORT", help="a server already running")
    parser.add_argument("--protocol", choices=sorted(SCRIPTS), default=SHIFT,
                        help="default: %(default)s")
    parser.add_argument("--scenario", choices=(SCRIPT, CPU_HEAVY, PINGPONG), default=SCRIPT,
                        help="script: the original series' three sends with pauses; "
                             "cpu-heavy: once all clients are connected, each sends "
                             "--messages requests at once, in one write (start the server "
                             "with --work-us to make each one cost CPU); pingpong: each "
                             "client sends --messages requests one at a time, each after the "
                             "last one's reply (default %(default)s)")
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, metavar="M",
                        help="cpu-heavy, pingpong: requests per client (default %(default)s)")
    parser.add_argument("--split-writes", action="store_true",
                        help="pingpong: write each request in two pieces (shift's ^, a "
                             "frame's header, then the rest), as loadgen --split-writes does")
    parser.add_argument("--nagle", action="store_true",
                        help="leave Nagle's algorithm on: no TCP_NODELAY on the clients' "
                             "sockets (by default every write leaves at once)")
    parser.add_argument("--json", metavar="FILE", help="write the records here")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--step-delays", metavar="D1,D2,D3",
                        default=",".join(str(delay) for delay in DEFAULT_DELAYS),
                        help="pauses after each of the three sends, in seconds "
                             "(default %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="longest wait for the server (default %(default)s)")


def parse_delays(text: str) -> Tuple[float, ...]:
    delays = tuple(float(part) for part in text.split(","))
    if len(delays) != len(DEFAULT_DELAYS) or min(delays) < 0:
        raise ValueError("--step-delays needs %d non-negative numbers, got %r"
                         % (len(DEFAULT_DELAYS), text))
    return delays


def main(args: argparse.Namespace) -> int:
    try:
        delays = parse_delays(args.step_delays)
    except ValueError as error:
        print("run: error: %s" % error, file=sys.stderr)
        return EXIT_USAGE
    if args.clients < 1:
        print("run: error: -n must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.messages < 1:
        print("run: error: --messages must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.split_writes and args.scenario != PINGPONG:
        print("run: error: --split-writes needs --scenario pingpong", file=sys.stderr)
        return EXIT_USAGE

    server = None
    try:
        if args.server:
            server = MeasuredServer(server_command(args.server, args.protocol))
            address = server.start()
            target = args.server
        else:
            address = parse_address(args.address)
            target = args.address
    except (ServerError, ValueError) as error:
        print("run: error: %s" % error, file=sys.stderr)
        if server is not None:
            server.close()
        return EXIT_USAGE

    try:
        report = run_clients(args, address, target, delays)
        report["server_cpu"] = server_cpu(server)
    finally:
        if server is not None:
            stop_server(server)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=1)
            out.write("\n")
    print_summary(report)
    return EXIT_OK if report["ok"] else EXIT_CLIENT_FAILED


def run_clients(args: argparse.Namespace, address: Tuple[str, int], target: str,
                delays: Tuple[float, ...]) -> dict:
    """Run all clients at once; returns the JSON-ready report."""
    log = RunLog(args.quiet)
    started_at = datetime.now().astimezone().isoformat(timespec="milliseconds")
    scenario = make_scenario(args.scenario, args.protocol, delays, args.messages,
                             args.split_writes)
    start_line = threading.Barrier(args.clients) if scenario.start_together else None
    clients = [ScriptedClient("conn%d" % index, address, args.protocol, scenario, log,
                              args.timeout, start_line, args.nagle)
               for index in range(args.clients)]
    threads = [threading.Thread(target=client.run, name=client.record.name)
               for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = [client.record for client in clients]
    for record in records:  # two threads add events: keep them in time order
        record.events.sort(key=lambda event: event["t"])
    return {
        "format": JSON_FORMAT,
        "protocol": args.protocol,
        "scenario": args.scenario,
        "split_writes": args.split_writes,
        "nagle": args.nagle,
        "target": target,
        "address": format_address(*address),
        "clients": len(records),
        "started_at": started_at,
        "elapsed": log.now(),
        "ok": all(record.ok for record in records),
        "records": [asdict(record) for record in records],
    }


def server_cpu(server: Optional[MeasuredServer]) -> Optional[float]:
    """The CPU time the server has used so far, if it can be read."""
    if server is None or not os.path.isdir("/proc/self"):
        return None
    try:
        return server.cpu_seconds()
    except CaseFailure:
        return None


def stop_server(server: ServerProcess) -> None:
    try:
        status = server.stop()
        if status != 0:
            print("warning: after SIGTERM the server exited with status %s%s"
                  % (describe_status(status), server.failure_report()), file=sys.stderr)
    except ServerError as error:
        print("warning: %s" % error, file=sys.stderr)
    finally:
        server.close()


def print_summary(report: dict) -> None:
    """Per client: waited (connect to first byte), served (first byte to
    finish), total; then the run's elapsed time."""
    print("%-8s %8s %8s %8s  %s" % ("client", "waited", "served", "total", "result"))
    for record in report["records"]:
        print("%-8s %8s %8s %8s  %s" % (
            record["name"],
            _span(record["connect_start"], record["first_byte"]),
            _span(record["first_byte"], record["finished"]),
            _span(record["connect_start"], record["finished"]),
            "ok" if record["ok"] else "FAILED: %s" % record["error"]))
    print("elapsed %.3f s (%s, %s, %d clients)" % (report["elapsed"], report["target"],
                                                   report["protocol"], report["clients"]))
    if report.get("server_cpu") is not None:
        print("server CPU %.3f s (user + system, every thread, since it started)"
              % report["server_cpu"])
    sys.stdout.flush()


def _span(start: Optional[float], end: Optional[float]) -> str:
    return "-" if start is None or end is None else "%.3f" % (end - start)
