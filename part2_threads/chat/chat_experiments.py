#!/usr/bin/env python3
"""The chat room's experiments (docs/part2_chat.md): each one starts
chat-server with every --broadcast strategy in turn, runs chat-stress against
it, and prints what it measured. All on 127.0.0.1; each run takes seconds.

  corruption   8 clients, 6 of them sending 50 frames of 256 KiB each:
               corrupt frames per strategy (snapshot's first flaw)
  throughput   50 clients, 5 senders, 2000 frames of 256 bytes each:
               frames delivered per second, median of --runs
  slow-client  50 clients, 5 senders sending for 4 s, one client that
               never reads: delivery rate over time (--plot draws it)
  descriptor-race  snapshot's second flaw under ThreadSanitizer: a thread
               blocked sending a large frame to a client that never reads,
               then SIGTERM, and that client's thread closes the descriptor
               the sender is still using (--bin: a -DCS_SANITIZE=thread build)

  python3 part2_threads/chat/chat_experiments.py corruption --bin build/release/part2_threads/chat

Use the release build (./run build release): a debug server measures the
debug build. Standard library only, but --plot needs matplotlib.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "simulator"))
from sim_server import ServerError, ServerProcess  # noqa: E402  (the repository's one launcher)

STRATEGIES = ("global-lock", "snapshot", "queue")
READY_TIMEOUT = 10  # seconds for the server's "listening on" line
RUN_TIMEOUT = 120  # seconds for one chat-stress run


class Server:
    """chat-server on port 0, started by sim_server.ServerProcess (ready when
    it prints its listening line; its stderr kept as the log)."""

    def __init__(self, binary, args):
        self._server = ServerProcess([binary, "--port", "0", *args], READY_TIMEOUT)
        try:
            _, self.port = self._server.start()
        except ServerError as error:
            self._server.close()
            sys.exit("chat-server did not start: %s" % error)
        self.returncode = None

    def stop(self):
        """SIGTERM; returns the server's log (stderr); exits if it failed."""
        log = self.stop_any()
        if self.returncode != 0:
            sys.exit("chat-server exited with status %d:\n%s" % (self.returncode, log))
        return log

    def stop_any(self):
        """SIGTERM; returns the server's log (stderr), whatever the exit status."""
        try:
            self.returncode = self._server.stop(RUN_TIMEOUT)
        except ServerError as error:  # it was killed; the message holds its log's tail
            sys.exit(str(error))
        finally:
            self._server.close()
        return self._server.log()


def stress(bin_dir, strategy, stress_args, server_args=()):
    """One run: a fresh server, chat-stress against it; returns (summary, log)."""
    server = Server(os.path.join(bin_dir, "chat-server"),
                    ["--broadcast", strategy, "--quiet", *server_args])
    try:
        result = subprocess.run([os.path.join(bin_dir, "chat-stress"), "--port", str(server.port),
                                 *stress_args], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    finally:
        log = server.stop()
    if result.returncode not in (0, 3):  # 3: it ran, and found problems
        sys.exit("chat-stress failed (%d): %s" % (result.returncode, result.stderr))
    return json.loads(result.stdout), log


def corruption(args):
    stress_args = ["--clients", "8", "--senders", "6", "--frames", "50", "--size", "262144",
                   "--window", "4", "--duration", "5"]
    print("chat-stress %s, %d runs per strategy" % (" ".join(stress_args), args.runs))
    print("%-12s %-28s %-28s %s" % ("strategy", "corrupt frames per run", "missing frames per run",
                                     "runs with corruption"))
    for strategy in STRATEGIES:
        corrupt, missing = [], []
        for _ in range(args.runs):
            summary, _ = stress(args.bin, strategy, stress_args)
            corrupt.append(summary["frames_corrupt"])
            missing.append(summary["frames_missing"])
        print("%-12s %-28s %-28s %d/%d" % (strategy, " ".join(map(str, corrupt)),
                                           " ".join(map(str, missing)),
                                           sum(1 for c in corrupt if c), args.runs))


def throughput(args):
    stress_args = ["--clients", "50", "--senders", "5", "--frames", "2000", "--size",
                   str(args.size), "--window", "16", "--duration", "60"]
    print("chat-stress %s, %d runs per strategy" % (" ".join(stress_args), args.runs))
    print("%-12s %10s %10s %10s  %s" % ("strategy", "median/s", "min/s", "max/s", "problems"))
    # Rounds interleave the strategies (one run of each per round), so that
    # a change in the machine's load during the series affects all alike.
    rates = {strategy: [] for strategy in STRATEGIES}
    problems = {strategy: 0 for strategy in STRATEGIES}
    for _ in range(args.runs):
        for strategy in STRATEGIES:
            summary, _ = stress(args.bin, strategy, stress_args)
            rates[strategy].append(summary["delivered_per_s"])
            problems[strategy] += (summary["frames_corrupt"] + summary["frames_missing"]
                                   + len(summary["dropped"]))
    for strategy in STRATEGIES:
        print("%-12s %10.0f %10.0f %10.0f  %d" % (strategy, statistics.median(rates[strategy]),
                                                  min(rates[strategy]), max(rates[strategy]),
                                                  problems[strategy]))


def slow_client(args):
    base = ["--clients", "50", "--senders", "5", "--frames", "0", "--size", "4096",
            "--window", "16", "--duration", "4", "--interval", "0.25"]
    print("chat-stress %s [--slow]" % " ".join(base))
    series = {}
    for strategy in STRATEGIES:
        for slow in (False, True):
            summary, log = stress(args.bin, strategy, base + (["--slow"] if slow else []))
            rates = [round(n / summary["interval_s"]) for n in summary["rate_per_interval"]]
            label = "%s%s" % (strategy, " + slow client" if slow else "")
            dropped, dropped_at = "", None
            if slow:
                state = summary["slow"]
                dropped_at = state["after_s"] if state["closed_by_server"] else None
                dropped = ("slow client dropped after %.2f s" % dropped_at
                           if dropped_at is not None else "slow client never dropped")
            series[label] = (summary["interval_s"], rates, dropped_at)
            print("%-26s %8.0f frames/s overall; per 0.25 s, as frames/s: %s %s" % (
                label, summary["delivered_per_s"], " ".join(map(str, rates)), dropped))
            for line in log.splitlines():
                if "dropping" in line:
                    print("    server: " + line.split("warn: ", 1)[-1])
    if args.plot:
        plot(series, args.plot)


def descriptor_race(args):
    """Deterministic: the silent client's receive buffer and the server's
    send buffer together hold far less than one 256 KiB frame, so a's thread
    is certainly blocked in send() to the silent client once the reader (who
    joined before it, and snapshots keep join order) has the frame."""
    import socket
    import struct

    server = Server(os.path.join(args.bin, "chat-server"),
                    ["--broadcast", "snapshot", "--sndbuf", "65536"])

    def join(receive_buffer=None):
        client = socket.socket()
        if receive_buffer:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        client.settimeout(30)
        client.connect(("127.0.0.1", server.port))
        return client

    sender, reader, silent = join(), join(), join(receive_buffer=4096)
    # Joined means its connection thread has said so; without a log reader
    # here, a frame from each newcomer to the first client proves it (each
    # thread joins the room before it reads).
    for newcomer in (reader, silent):
        newcomer.sendall(struct.pack(">I", 5) + b"hello")
        assert sender.recv(9)[4:] == b"hello"
    payload = b"s" * 262144
    sender.sendall(struct.pack(">I", len(payload)) + payload)
    received = 0
    while received < 4 + 5 + len(payload):  # silent's hello, then the frame
        received += len(reader.recv(1 << 20))
    log = server.stop_any()
    # The report, shortened: which access raced with which (top of each stack).
    section = None
    for line in log.splitlines():
        if line.startswith("  ") and not line.startswith("    "):
            section = line.split()[0]  # "Write", "Previous", "Location", "Thread"
        frame = re.match(r"\s+#(\d+) ", line)
        if frame and section in ("Write", "Previous") and int(frame.group(1)) <= 3:
            print(re.sub(r" \(chat-server\+0x[0-9a-f]+\)| \(libtsan.*\)", "", line))
        elif not frame and section != "Thread" and line.strip() and "info:" not in line:
            print(line)
        elif "stopped:" in line:
            print(line)
    print("chat-server exit status: %d" % server.returncode)


def plot(series, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for axis, strategy in zip(axes, STRATEGIES):
        for slow, style in ((False, "-"), (True, "--")):
            label = "%s%s" % (strategy, " + slow client" if slow else "")
            interval, rates, dropped_at = series[label]
            # Each rate holds for its interval: from i * interval to the next.
            times = [interval * i for i in range(len(rates) + 1)]
            axis.step(times, rates + rates[-1:], style, where="post",
                      label="one client never reads" if slow else "every client reads")
            if dropped_at is not None:
                axis.axvline(dropped_at, color="grey", linewidth=0.8)
                axis.annotate("slow client dropped", (dropped_at, 0), xytext=(4, 4),
                              textcoords="offset points", fontsize=8, color="grey")
        axis.set_title("--broadcast " + strategy)
        axis.set_xlabel("seconds")
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("frames delivered per second")
    axes[0].legend(loc="lower left", fontsize=8)
    figure.suptitle("50 clients, 5 senders of 4 KiB frames (chat-stress), 2-core VM")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print("wrote " + path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment",
                        choices=("corruption", "throughput", "slow-client", "descriptor-race"))
    parser.add_argument("--bin", required=True,
                        help="folder holding chat-server and chat-stress (a Release build)")
    parser.add_argument("--runs", type=int, default=5, help="runs per strategy (default 5)")
    parser.add_argument("--size", type=int, default=256, help="throughput: frame size")
    parser.add_argument("--plot", help="slow-client: write the chart to this PNG")
    args = parser.parse_args()
    {"corruption": corruption, "throughput": throughput, "slow-client": slow_client,
     "descriptor-race": descriptor_race}[args.experiment](args)


if __name__ == "__main__":
    main()
