# Entry point: `python3 simulator <run|timeline|check|hostile> ...` from the
# repository root. Python puts this folder first on sys.path, which is how
# the sim_* modules beside this file are found.
from __future__ import annotations

import argparse
import sys

import sim_check
import sim_hostile
import sim_run
import sim_timeline

SUBCOMMANDS = {
    "run": (sim_run, "run N concurrent scripted clients against a server"),
    "timeline": (sim_timeline, "draw run records as a timeline (needs matplotlib)"),
    "check": (sim_check, "run the conformance suite of a protocol against a server"),
    "hostile": (sim_hostile, "attack a server's resources with hostile clients, one fresh "
                             "server per case"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simulator", description="Client simulator for the concurrent servers tutorial.")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    subparsers.required = True
    for name, (module, summary) in SUBCOMMANDS.items():
        subparser = subparsers.add_parser(name, help=summary, description=summary)
        module.add_arguments(subparser)
        subparser.set_defaults(handler=module.main)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
