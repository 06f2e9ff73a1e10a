# The `check` subcommand: runs the conformance cases of one protocol against
# a server (started here from its binary, or already running at an address)
# and prints PASS/FAIL per case and a final "N passed, M failed" line.
from __future__ import annotations

import argparse
import time
import traceback
from typing import List, Optional

# Importing a cases module registers its cases (see sim_registry). A new
# protocol adds its module here.
import sim_cases_common  # noqa: F401  (cases for every protocol)
import sim_cases_framed  # noqa: F401
import sim_cases_line  # noqa: F401
import sim_cases_packet  # noqa: F401
import sim_cases_shift  # noqa: F401
from sim_net import CaseFailure
from sim_protocols import DEFAULT_MAX_FRAME, DEFAULT_MAX_LINE, LINE, MAX_MAX_LINE, SHIFT
from sim_registry import Case, Context, cases_for, protocols
from sim_server import (ServerError, ServerProcess, describe_status, format_address,
                        parse_address, server_command)

DEFAULT_TIMEOUT = 5.0  # seconds any single wait on a socket may take
MIN_MAX_FRAME = 16  # the cases' own small frames must fit
MIN_MAX_LINE = 32  # the cases' own short lines must fit
# After a failure, how long a dying server gets to be seen dead, so that the
# failure can say it crashed (the process may still be exiting).
DEATH_GRACE = 0.25

EXIT_ALL_PASSED = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--protocol", choices=protocols(), default=SHIFT,
                        help="protocol to check (default: %(default)s)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--server", metavar='"BINARY [ARGS]"',
                        help="start this server for the suite: BINARY --port 0 --protocol P "
                             "[--max-frame N] [ARGS]; a BINARY ending in .py runs with this "
                             "Python")
    target.add_argument("--address", metavar="HOST:PORT",
                        help="check a server that is already running there")
    parser.add_argument("--max-frame", type=int, metavar="BYTES",
                        help="the server's frame limit (passed to a --server); default %d"
                             % DEFAULT_MAX_FRAME)
    parser.add_argument("--max-line", type=int, metavar="BYTES",
                        help="line only: the server's line limit (passed to a --server); "
                             "default %d" % DEFAULT_MAX_LINE)
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="longest wait for progress on a socket (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="trace every send and receive; show the server's stderr at the end")


def main(args: argparse.Namespace) -> int:
    cases = cases_for(args.protocol)
    if args.list:
        for case in cases:
            suffix = " (only with --server)" if case.needs_server else ""
            print("%-24s %s%s" % (case.name, case.description, suffix))
        return EXIT_ALL_PASSED
    if not (args.server or args.address):
        return usage_error("give --server \"BINARY [ARGS]\" or --address HOST:PORT")
    if args.max_frame is not None and args.max_frame < MIN_MAX_FRAME:
        return usage_error("--max-frame must be at least %d" % MIN_MAX_FRAME)
    if args.max_line is not None:
        if args.protocol != LINE:
            return usage_error("--max-line applies to --protocol line only")
        if not MIN_MAX_LINE <= args.max_line <= MAX_MAX_LINE:
            return usage_error("--max-line must be %d..%d" % (MIN_MAX_LINE, MAX_MAX_LINE))
    try:
        selected = select_cases(cases, args.only, have_server=bool(args.server))
    except ValueError as error:
        return usage_error(str(error))

    server = None
    if args.server:
        try:
            argv = server_command(args.server, args.protocol, args.max_frame)
            if args.max_line is not None:
                argv += ["--max-line", str(args.max_line)]
            server = ServerProcess(argv)
            address = server.start()
        except (ServerError, ValueError) as error:
            if server is not None:
                server.close()
            return usage_error("the server did not start: %s" % error)
    else:
        try:
            address = parse_address(args.address)
        except ValueError as error:
            return usage_error(str(error))

    ctx = Context(protocol=args.protocol, address=address, timeout=args.timeout,
                  max_frame=args.max_frame or DEFAULT_MAX_FRAME,
                  max_line=args.max_line or DEFAULT_MAX_LINE, server=server,
                  verbose=args.verbose)
    target = server.description if server else "the server at " + args.address
    print("checking %s on %s (%s), %d cases" % (args.protocol, format_address(*address), target,
                                                len(selected)), flush=True)
    try:
        failed = run_cases(ctx, selected)
    finally:
        if server is not None:
            stop_server(server, args.verbose)
    print("%d passed, %d failed" % (len(selected) - failed, failed), flush=True)
    return EXIT_ALL_PASSED if failed == 0 else EXIT_SOME_FAILED


def usage_error(message: str) -> int:
    print("check: error: %s" % message, flush=True)
    return EXIT_USAGE


def select_cases(cases: List[Case], only: Optional[List[str]], have_server: bool) -> List[Case]:
    """The cases to run, in suite order. Raises ValueError for unknown names
    or for a case that needs a server started by check when there is none."""
    if only:
        known = {case.name for case in cases}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise ValueError("unknown case(s) %s; known: %s"
                             % (", ".join(unknown), ", ".join(case.name for case in cases)))
        cases = [case for case in cases if case.name in only]
        needing = [case.name for case in cases if case.needs_server and not have_server]
        if needing:
            raise ValueError("%s can only run with --server" % ", ".join(needing))
    return [case for case in cases if have_server or not case.needs_server]


def run_cases(ctx: Context, cases: List[Case]) -> int:
    """Run the cases in order, printing one result each; returns the number failed."""
    failed = 0
    for case in cases:
        if ctx.verbose:
            print("RUN  %s: %s" % (case.name, case.description), flush=True)
        started = time.monotonic()
        reason = run_case(ctx, case)
        if reason is None:
            print("PASS %s (%.2f s)" % (case.name, time.monotonic() - started), flush=True)
        else:
            failed += 1
            print("FAIL %s: %s" % (case.name, reason), flush=True)
    return failed


def run_case(ctx: Context, case: Case) -> Optional[str]:
    """Run one case; None if it passed, else the reason it failed."""
    ctx.restart_clock()
    death = server_death(ctx)
    if death:
        return "the server process is no longer running: " + death
    try:
        case.function(ctx)
        return None
    except CaseFailure as failure:
        reason = str(failure)
    except Exception as error:  # a bug in a case must not stop the suite
        reason = "unexpected %s: %s" % (type(error).__name__, error)
        if ctx.verbose:
            reason += "\n" + traceback.format_exc()
    if ctx.server is not None and not case.needs_server:  # those stop it on purpose
        ctx.server.wait(DEATH_GRACE)
    death = server_death(ctx)
    if death and not case.needs_server:
        reason += "\n  and the server process died during this case: " + death
    return reason


def server_death(ctx: Context) -> str:
    """'' while the server under test runs (or is not ours), else how it ended."""
    if ctx.server is None:
        return ""
    status = ctx.server.exit_status()
    if status is None:
        return ""
    tail = ctx.server.stderr_tail()
    return "exited with status %s%s" % (describe_status(status), _stderr_block(tail))


def stop_server(server: ServerProcess, verbose: bool) -> None:
    """Stop the server after the suite; problems are reported, not counted
    (the graceful-shutdown case is the one that judges shutdown)."""
    if server.exit_status() is None:
        try:
            status = server.stop()
            if status != 0:
                print("note: after SIGTERM the server exited with status %s"
                      % describe_status(status), flush=True)
        except ServerError as error:
            print("note: %s" % error, flush=True)
    if verbose:
        print(_stderr_block(server.stderr_tail()).lstrip("\n") or "server stderr: (empty)",
              flush=True)
    server.close()


def _stderr_block(tail: str) -> str:
    if not tail:
        return ""
    lines = "\n".join("    " + line for line in tail.splitlines())
    return "\n  server stderr (last lines):\n" + lines
