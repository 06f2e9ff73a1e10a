# Shared by the self-tests: where things are, and how to run the simulator
# and the self-test server as the user would, in a subprocess with a timeout.
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

SIMULATOR_DIR = Path(__file__).resolve().parents[1]
TEST_SERVER = SIMULATOR_DIR / "tests" / "servers" / "flavoured_server.py"
# No simulator command may take this long: a hang fails the test instead.
COMMAND_TIMEOUT = 120.0


def server_spec(flavour: str = "correct") -> str:
    """A --server argument that starts the self-test server as `flavour`."""
    return "%s --flavour %s" % (TEST_SERVER, flavour)


def simulator(args: List[str], timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    """Run `python3 simulator ARGS` with this interpreter; stdout and stderr
    are captured as text."""
    return subprocess.run([sys.executable, str(SIMULATOR_DIR)] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
