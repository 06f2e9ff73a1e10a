# The `hostile` subcommand: clients that attack a server's resources rather
# than its protocol logic (a frame header announcing 4 GiB, a huge request
# whose replies are never read, hundreds of resets, descriptor exhaustion,
# silent and trickling clients, SIGTERM under load). Each case starts its
# own server, with the options it needs, through sim_server's launcher, and
# judges what can be seen from outside: replies, closes, and the process's
# memory, descriptors, CPU time and log (sim_hostile_process).
#
# Output is check's: `PASS name (time)` or `FAIL name: reason` per case, then
# `N passed, M failed`; a case declared out of reach of the server's design
# (--design-limit), or one that cannot apply to the protocol (huge-header-flood
# needs a header that can announce gigabytes), prints `SKIP name: reason` and
# counts as neither.
from __future__ import annotations

import argparse
import time
import traceback
from typing import Dict, List, Optional

# Importing the cases registers them (see sim_hostile_registry).
import sim_hostile_cases  # noqa: F401
from sim_hostile_process import MeasuredServer
from sim_hostile_registry import (ALL_CASES, PROTOCOLS, HostileCase, Setup, hostile_cases,
                                  hostile_command, stderr_block)
from sim_net import CaseFailure
from sim_protocols import SHIFT
from sim_server import ServerError, describe_status

DEFAULT_TIMEOUT = 5.0  # seconds any single wait on a socket may take
# After a failure, how long a dying server gets to be seen dead, so that the
# failure can say it crashed (the process may still be exiting).
DEATH_GRACE = 0.25

EXIT_ALL_PASSED = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


# ------------------------------------------------------ the command

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", choices=PROTOCOLS, default=SHIFT,
                        help="protocol to speak (default: %(default)s)")
    parser.add_argument("--server", metavar='"BINARY [ARGS]"',
                        help="the server: each case starts BINARY --port 0 --protocol P [ARGS] "
                             "[its own options] (no --protocol for chat, whose server speaks "
                             "only chat); a BINARY ending in .py runs with this Python")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--one-at-a-time", action="store_true",
                        help="the server serves one client at a time: leave out the bystander "
                             "clients (the rest of each case still runs)")
    parser.add_argument("--design-limit", action="append", default=[], metavar="CASE:REASON",
                        help="the server cannot pass CASE by design: print SKIP with REASON "
                             "instead of running it (repeatable)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="longest wait for progress on a socket (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="trace every send and receive; show the server's stderr on failure")


def main(args: argparse.Namespace) -> int:
    cases = hostile_cases(args.protocol)
    if args.list:
        for case in cases:
            print("%-26s %s" % (case.name, case.description))
        return EXIT_ALL_PASSED
    if not args.server:
        return usage_error("give --server \"BINARY [ARGS]\" (each case starts its own server)")
    try:
        selected = select_cases(ALL_CASES, args.only, args.protocol)
        limits = parse_design_limits(args.design_limit)
    except ValueError as error:
        return usage_error(str(error))
    # A case that cannot apply to the protocol is reported, never dropped.
    for case in selected:
        reason = case.reason_not_for(args.protocol)
        if reason is not None:
            limits[case.name] = "not for %s: %s" % (args.protocol, reason)

    # One start and stop first, so that a server that cannot start at all is
    # a usage error (exit 2) rather than every case failing the same way.
    try:
        server = MeasuredServer(hostile_command(args.server, args.protocol))
    except ValueError as error:
        return usage_error(str(error))
    try:
        server.start()
    except ServerError as error:
        server.close()
        return usage_error("the server did not start: %s" % error)
    description = server.description
    stop_quietly(server)

    print("hostile clients, %s, against %s: %d cases" % (args.protocol, description,
                                                         applicable_count(selected, args.protocol)),
          flush=True)
    passed = failed = skipped = 0
    for case in selected:
        if case.name in limits:
            skipped += 1
            print("SKIP %s: %s" % (case.name, limits[case.name]), flush=True)
            continue
        setup = Setup(spec=args.server, protocol=args.protocol, timeout=args.timeout,
                      verbose=args.verbose, one_at_a_time=args.one_at_a_time)
        if args.verbose:
            print("RUN  %s: %s" % (case.name, case.description), flush=True)
        started = time.monotonic()
        reason = run_case(setup, case)
        elapsed = time.monotonic() - started
        if reason is None:
            passed += 1
            notes = "".join("; " + note for note in setup.notes)
            print("PASS %s (%.2f s%s)" % (case.name, elapsed, notes), flush=True)
        else:
            failed += 1
            print("FAIL %s: %s (after %.2f s)" % (case.name, reason, elapsed), flush=True)
    if skipped:
        print("%d skipped (not for this protocol, or design limits of this server)" % skipped,
              flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return EXIT_ALL_PASSED if failed == 0 else EXIT_SOME_FAILED


def usage_error(message: str) -> int:
    print("hostile: error: %s" % message, flush=True)
    return EXIT_USAGE


def select_cases(cases: List[HostileCase], only: Optional[List[str]],
                 protocol: str) -> List[HostileCase]:
    """The cases to report on, in registration order: all of them, or
    those of --only (a case not for this protocol is reported as SKIP)."""
    if not only:
        return cases
    known = {case.name for case in cases}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError("unknown case(s): %s; known for %s: %s"
                         % (", ".join(unknown), protocol,
                            ", ".join(case.name for case in hostile_cases(protocol))))
    return [case for case in cases if case.name in only]


def applicable_count(selected: List[HostileCase], protocol: str) -> int:
    return sum(1 for case in selected if case.reason_not_for(protocol) is None)


def parse_design_limits(entries: List[str]) -> Dict[str, str]:
    """{case name: reason} from CASE:REASON entries. A case of the other
    protocol is accepted (one list of limits can serve both protocols)."""
    every_name = {case.name for case in ALL_CASES}
    limits = {}
    for entry in entries:
        name, _, reason = entry.partition(":")
        if name not in every_name or not reason.strip():
            raise ValueError("--design-limit wants CASE:REASON with CASE one of %s, got %r"
                             % (", ".join(case.name for case in ALL_CASES), entry))
        limits[name] = reason.strip()
    return limits


def run_case(setup: Setup, case: HostileCase) -> Optional[str]:
    """Run one case and stop the servers it started; None if it passed,
    else the reason it failed."""
    reason = None
    try:
        case.function(setup)
    except CaseFailure as failure:
        reason = str(failure)
    except Exception as error:  # a bug in a case must not stop the suite
        reason = "unexpected %s: %s" % (type(error).__name__, error)
        if setup.verbose:
            reason += "\n" + traceback.format_exc()
    for target in setup.targets:
        if target.exit_accounted:
            continue
        if reason is not None:
            target.server.wait(DEATH_GRACE)
        status = target.server.exit_status()
        if status is not None:
            death = "the server process died during this case: status %s%s" % (
                describe_status(status), stderr_block(target.server))
            reason = death if reason is None else "%s\n  and %s" % (reason, death)
        elif reason is not None and setup.verbose:
            reason += stderr_block(target.server)
    for target in setup.targets:
        stop_quietly(target.server)
    return reason


def stop_quietly(server: MeasuredServer) -> None:
    """Stop a case's server; how it exits is judged only by the case that
    is about shutdown (sigterm-under-load)."""
    if server.exit_status() is None:
        try:
            server.stop()
        except ServerError:
            pass  # it was killed; nothing more to do
    server.close()
