"""bench_processes.py - the processes the runner starts and watches.

RunningServer starts a server binary on port 0 and waits for its
"listening on" line (never a sleep), and stops it with SIGTERM;
raise_open_files lifts RLIMIT_NOFILE for it and for loadgen; line_reader
reads a pipe without blocking the runner; cpu_seconds and
memory_and_threads read a process's CPU time, RSS and threads from /proc;
IdleClients holds silent connections open to a server while the runner
measures something else against it; VethPair makes the two network
namespaces of experiment 2's two-host variant.
"""

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time

_SIMULATOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "simulator")
if _SIMULATOR not in sys.path:
    sys.path.insert(0, _SIMULATOR)
from sim_server import ServerError, ServerProcess  # noqa: E402  (the repository's one launcher)

SERVER_START_TIMEOUT = 10  # seconds for a server to print "listening on"
# Seconds a server gets to finish after SIGTERM before it is killed: longer
# than any server's shutdown grace with thousands of connections open.
SERVER_STOP_TIMEOUT = 15
OPEN_FILES_WANTED = 65536  # RLIMIT_NOFILE asked for (capped at the hard limit)


def raise_open_files():
    """Raises RLIMIT_NOFILE toward OPEN_FILES_WANTED (the hard limit caps it);
    used as preexec_fn, so servers and loadgen inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(OPEN_FILES_WANTED, hard)
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass


def line_reader(stream):
    """Returns a queue fed with the stream's lines (None at EOF) by a thread."""
    lines = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


class RunningServer(ServerProcess):
    """A server of the registry, started by the constructor as every
    experiment starts one: `prefix` (taskset, a network namespace), the
    binary under build_dir, port 0, --quiet, the server's own arguments,
    `extra`, and --protocol unless the protocol is chat; RLIMIT_NOFILE
    raised. A server that does not print its "listening on" line is a
    RuntimeError that ends with its log, on one line (the runner keeps it as
    a note of the report). stop() sends SIGTERM, kills it
    after SERVER_STOP_TIMEOUT seconds, and returns its exit status; a
    second stop is harmless."""

    def __init__(self, build_dir, server, protocol, extra=(), prefix=()):
        argv = [*prefix, os.path.join(build_dir, server.path), "--port", "0", "--quiet",
                *server.args, *extra]
        if protocol != "chat":
            argv += ["--protocol", protocol]
        super().__init__(argv, SERVER_START_TIMEOUT, preexec_fn=raise_open_files)
        try:
            self.start()
        except ServerError as error:
            self.close()
            raise RuntimeError(" ".join(str(error).split())) from None

    def stop(self):
        status = self.exit_status()
        if status is None:
            try:
                status = super().stop(SERVER_STOP_TIMEOUT)
            except ServerError:  # killed; the run goes on with the next server
                status = self.exit_status()
        return status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.close()


class IdleClients:
    """`loadgen idle` holding `count` silent connections to 127.0.0.1:port
    for as long as the with-block runs. Entering waits, up to `timeout`
    seconds, for its "ready: holding" line: from then on every connection is
    open and (shift) greeted, or counted as not greeted, so nothing has to
    sleep and hope that they are. Leaving stops it with SIGTERM and keeps
    the JSON line it prints in `result` (held_at_end, ready,
    connect_failures). With count 0 it starts nothing, and its result says
    so in the same fields."""

    def __init__(self, loadgen, port, count, timeout):
        self.argv = [loadgen, "idle", "--port", str(port), "-c", str(count), "--seconds", "0",
                     "--connect-timeout", "10"]
        self.count, self.timeout = count, timeout
        self.process = None
        self.result = {"held_at_end": 0, "ready": 0, "connect_failures": 0} if count == 0 else None

    def __enter__(self):
        if self.count == 0:
            return self
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, preexec_fn=raise_open_files)
        self.stdout = line_reader(self.process.stdout)
        stderr = line_reader(self.process.stderr)
        deadline = time.monotonic() + self.timeout
        said = []
        while time.monotonic() < deadline:
            try:
                line = stderr.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if "ready: holding" in line:
                return self
            said.append(line.strip())
        self.stop()
        raise RuntimeError(f"loadgen idle -c {self.count} did not report ready within {self.timeout} s"
                           + (f": {' '.join(said)[-300:]}" if said else ""))

    def stop(self):
        """Stops loadgen (once) and reads its result; None if it printed
        none, or not a JSON line."""
        if self.process is None or self.process.returncode is not None:
            return self.result
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        out = []
        try:
            # It has exited, so its stdout ends and the reader's None comes.
            for line in iter(lambda: self.stdout.get(timeout=10), None):
                out.append(line)
        except queue.Empty:
            pass
        lines = "".join(out).strip().splitlines()
        try:
            self.result = json.loads(lines[-1]) if lines else None
        except ValueError:
            self.result = None
        return self.result

    def __exit__(self, *exc):
        self.stop()


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads), from
    /proc/PID/stat (fields 14 and 15, in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of the line)
    return ticks / os.sysconf("SC_CLK_TCK")


def memory_and_threads(pid):
    """(VmRSS in KiB, thread count) from /proc/PID/status."""
    rss, threads = None, None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


class VethPair:
    """Two network namespaces joined by a veth pair, created on entry and
    removed on exit: a real (virtual) link between two hosts, where the
    round trip is no longer a loopback shortcut. Needs root and iproute2;
    raises CalledProcessError (with ip's message) when it cannot."""

    server_address = "10.213.7.2"
    client_address = "10.213.7.1"

    def __init__(self):
        tag = os.getpid()
        self.server_ns = f"csbench-srv-{tag}"
        self.client_ns = f"csbench-cli-{tag}"
        self.link = f"csb{tag % 100000}"  # interface names are at most 15 bytes

    @staticmethod
    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)

    def __enter__(self):
        try:
            self.ip("netns", "add", self.server_ns)
            self.ip("netns", "add", self.client_ns)
            self.ip("link", "add", self.link + "c", "type", "veth", "peer", "name", self.link + "s")
            self.ip("link", "set", self.link + "c", "netns", self.client_ns)
            self.ip("link", "set", self.link + "s", "netns", self.server_ns)
            self.ip("-n", self.client_ns, "addr", "add", self.client_address + "/24", "dev", self.link + "c")
            self.ip("-n", self.server_ns, "addr", "add", self.server_address + "/24", "dev", self.link + "s")
            for ns, dev in ((self.client_ns, self.link + "c"), (self.server_ns, self.link + "s")):
                self.ip("-n", ns, "link", "set", dev, "up")
                self.ip("-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as error:
            self.__exit__()
            raise RuntimeError(f"ip {' '.join(error.cmd[1:])}: {error.stderr.strip()}") from None
        except FileNotFoundError:
            self.__exit__()
            raise RuntimeError("the ip command (iproute2) is not installed") from None
        return self

    def __exit__(self, *exc):
        # Deleting a namespace deletes the veth end inside it, and with it
        # the pair.
        for ns in (self.server_ns, self.client_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
