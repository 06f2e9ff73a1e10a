"""Integration tests of loadgen against real servers: part 1's sequential
server, part 3's pool server, part 2's chat server, and a deliberately wrong
server (wrong_reply_server.py). Each case runs a short load (a second or
two) and checks the JSON loadgen prints.

Run: test_loadgen.py --loadgen PATH --sequential-server PATH
                     --threadpool-server PATH --chat-server PATH [Class.test_name]
(ctest runs one case per test, so a hang names its case).
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "simulator"))
from sim_server import ServerError, ServerProcess  # noqa: E402  (the repository's one launcher)

HERE = os.path.dirname(os.path.abspath(__file__))
PATHS = {}
SERVER_START_TIMEOUT = 10
SERVER_STOP_TIMEOUT = 10


class Server(ServerProcess):
    """A server on port 0, started by sim_server.ServerProcess (ready when it
    prints its "listening on" line). Its stdin is a pipe, closed at the end
    with the SIGTERM: the Python test servers here stop when it closes."""

    def __init__(self, argv):
        super().__init__(argv, SERVER_START_TIMEOUT, stdin_pipe=True)
        try:
            self.start()
        except ServerError as error:
            self.close()
            raise RuntimeError(str(error)) from None

    def __enter__(self):
        return self  # started already

    def __exit__(self, *exc):
        self.close_stdin()
        try:
            self.stop(SERVER_STOP_TIMEOUT)  # raises, with the log, if it had to be killed
        finally:
            self.close()


def server(name, *args):
    return Server([PATHS[name], "--port", "0", "--quiet", *args])


def loadgen(*args, timeout=30):
    """Runs loadgen; returns (exit status, parsed JSON or None, stderr)."""
    result = subprocess.run(
        [PATHS["loadgen"], *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    lines = result.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else None
    return result.returncode, report, result.stderr


class PingPong(unittest.TestCase):
    def test_shift_against_the_sequential_server_counts_requests_and_no_errors(self):
        with server("sequential") as s:
            status, report, err = loadgen("pingpong", "--port", s.port, "--protocol", "shift",
                                          "--seconds", "0.5", "--warmup", "0.1", "--size", "32")
        self.assertEqual(status, 0, err)
        self.assertGreater(report["requests"], 0, report)
        # The warm-up's replies count in requests_all only.
        self.assertGreater(report["requests_all"], report["requests"], report)
        self.assertEqual(report["errors"], 0, report)
        self.assertEqual(report["connect_failures"], 0, report)
        self.assertGreater(report["rps"], 0)
        self.assertLessEqual(report["p50_us"], report["p99_us"])
        self.assertLessEqual(report["p99_us"], report["max_us"])

    def test_framed_pipelined_split_writes_against_the_pool_server(self):
        with server("threadpool", "--protocol", "framed", "--threads", "2") as s:
            status, report, err = loadgen("pingpong", "--port", s.port, "--protocol", "framed",
                                          "-c", "2", "--pipeline", "4", "--split-writes", "--nodelay",
                                          "--size", "3000", "--seconds", "0.5", "--warmup", "0.1")
        self.assertEqual(status, 0, err)
        self.assertGreater(report["requests"], 0, report)
        self.assertEqual(report["errors"], 0, report)
        self.assertEqual(report["connections_served"], 2, report)

    def test_threads_share_the_connections_and_merge_their_counts(self):
        with server("threadpool", "--threads", "4") as s:
            status, report, err = loadgen("pingpong", "--port", s.port, "-c", "4", "--threads", "2",
                                          "--seconds", "0.5", "--warmup", "0.1")
        self.assertEqual(status, 0, err)
        self.assertEqual(report["threads"], 2)
        self.assertEqual(report["connections_served"], 4, report)
        self.assertEqual(report["errors"], 0, report)

    def test_a_wrong_reply_is_an_error_never_throughput(self):
        for protocol in ("shift", "framed"):
            with self.subTest(protocol=protocol):
                with Server([sys.executable, os.path.join(HERE, "wrong_reply_server.py"),
                             "--protocol", protocol]) as s:
                    status, report, err = loadgen("pingpong", "--port", s.port, "--protocol", protocol,
                                                  "--seconds", "0.5", "--warmup", "0")
                self.assertEqual(status, 0, err)
                self.assertGreater(report["errors"], 0, report)
                self.assertGreater(report["wrong_replies"], 0, report)
                self.assertEqual(report["requests"], 0, report)

    def test_a_refused_port_is_a_connect_failure(self):
        # A port nobody listens on: bind one, never listen, so it stays ours.
        with socket.socket() as placeholder:
            placeholder.bind(("127.0.0.1", 0))
            port = placeholder.getsockname()[1]
            status, report, err = loadgen("pingpong", "--port", port, "--seconds", "0.3", "--warmup", "0")
        self.assertEqual(status, 0, err)
        self.assertGreater(report["connect_failures"], 0, report)
        self.assertEqual(report["requests"], 0, report)


class Burst(unittest.TestCase):
    def test_every_connection_of_a_small_burst_is_served(self):
        with server("threadpool", "--threads", "4") as s:
            status, report, err = loadgen("burst", "--port", s.port, "-c", "50", "--timeout", "10")
        self.assertEqual(status, 0, err)
        self.assertEqual(report["served"], 50, report)
        self.assertEqual(report["success_rate"], 1.0, report)
        self.assertEqual(report["errors"], 0, report)

    def test_a_server_that_never_accepts_times_the_burst_out(self):
        # A listening socket nobody accepts from: handshakes complete into its
        # backlog, but no greeting ever comes, so nothing is served.
        with socket.create_server(("127.0.0.1", 0), backlog=4) as listener:
            port = listener.getsockname()[1]
            status, report, err = loadgen("burst", "--port", port, "-c", "20", "--timeout", "0.5")
        self.assertEqual(status, 0, err)
        self.assertEqual(report["served"], 0, report)
        self.assertEqual(report["timed_out"] + report["refused"], 20, report)


class Chat(unittest.TestCase):
    def test_every_message_reaches_every_other_client(self):
        with Server([PATHS["chat"], "--port", "0", "--quiet"]) as s:
            status, report, err = loadgen("chat", "--port", s.port, "-c", "5", "--senders", "2",
                                          "--rate", "200", "--seconds", "0.5", "--warmup", "0.1",
                                          "--size", "64")
        self.assertEqual(status, 0, err)
        self.assertTrue(report["joined"], report)
        self.assertGreater(report["messages_sent"], 0, report)
        self.assertEqual(report["deliveries_expected"], report["messages_sent"] * 4)
        self.assertEqual(report["deliveries"], report["deliveries_expected"], report)
        self.assertEqual(report["lost"], 0, report)
        self.assertEqual(report["errors"], 0, report)
        self.assertEqual(report["clients_dropped"], 0, report)


    def test_the_open_loop_counts_a_late_message_from_its_scheduled_time(self):
        # Coordinated omission: loadgen itself stopped (SIGSTOP) for 0.4 s
        # inside its 5 s window must, once it runs again, send every
        # message that fell due meanwhile and count each from when it was
        # due: none skipped, and the stop shows as latency. A loop that
        # skipped ahead, or stamped a message when it got to it, would
        # report fewer messages and no such latency.
        with Server([PATHS["chat"], "--port", "0", "--quiet"]) as s:
            run = subprocess.Popen([PATHS["loadgen"], "chat", "--port", str(s.port), "-c", "3",
                                    "--senders", "1", "--rate", "100", "--seconds", "5",
                                    "--warmup", "0.1", "--size", "64"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                for line in run.stderr:  # sending begins with this line
                    if "clients in the room" in line:
                        break
                time.sleep(1.0)  # inside the window, which ends 5.1 s after that line
                run.send_signal(signal.SIGSTOP)
                time.sleep(0.4)
                run.send_signal(signal.SIGCONT)
                out, err = run.communicate(timeout=60)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait()
        self.assertEqual(run.returncode, 0, err)
        report = json.loads(out.strip().splitlines()[-1])
        self.assertGreaterEqual(report["messages_sent"], 495, report)  # 100 a second for 5 s
        self.assertGreaterEqual(report["max_us"], 350000, report)
        self.assertEqual(report["lost"], 0, report)

    def test_join_timeout_leaves_out_the_clients_never_accepted(self):
        seats = os.path.join(HERE, "few_seats_chat_server.py")
        with Server([sys.executable, seats, "--seats", "3"]) as s:
            status, report, err = loadgen("chat", "--port", s.port, "-c", "6", "--senders", "2",
                                          "--rate", "100", "--seconds", "0.5", "--warmup", "0.1",
                                          "--size", "64", "--join-timeout", "1")
        self.assertEqual(status, 0, err)
        self.assertTrue(report["joined"], report)
        self.assertEqual(report["clients_in_room"], 3, report)
        self.assertEqual(report["join_failures"], 3, report)
        self.assertAlmostEqual(report["join_success_rate"], 0.5)
        self.assertGreater(report["messages_sent"], 0, report)
        # Only the seated clients count: each message reaches the 2 others.
        self.assertEqual(report["deliveries_expected"], report["messages_sent"] * 2)
        self.assertEqual(report["lost"], 0, report)
        self.assertEqual(report["errors"], 0, report)
        self.assertEqual(report["clients_dropped"], 0, report)

    def test_closed_loop_every_client_sends_as_fast_as_the_room_delivers(self):
        with Server([PATHS["chat"], "--port", "0", "--quiet"]) as s:
            status, report, err = loadgen("chat", "--port", s.port, "-c", "20", "--senders", "0",
                                          "--in-flight", "1", "--seconds", "0.5", "--warmup", "0.1",
                                          "--size", "64")
        self.assertEqual(status, 0, err)
        self.assertTrue(report["joined"], report)
        self.assertEqual(report["senders"], 20, report)
        self.assertEqual(report["in_flight"], 1, report)
        self.assertEqual(report["rate"], 0, report)
        # Each of 20 senders with one message on its way at a time: at least
        # one round of messages went round in half a second.
        self.assertGreater(report["messages_sent"], 20, report)
        self.assertEqual(report["deliveries_expected"], report["messages_sent"] * 19)
        self.assertEqual(report["deliveries"], report["deliveries_expected"], report)
        self.assertEqual(report["lost"], 0, report)
        self.assertEqual(report["gave_up"], 0, report)
        self.assertEqual(report["errors"], 0, report)
        self.assertEqual(report["clients_dropped"], 0, report)
        # Throughput counts the deliveries inside the measured window.
        self.assertGreater(report["requests"], 0, report)
        self.assertAlmostEqual(report["rps"], report["requests"] / report["seconds"], delta=1)
        self.assertGreater(report["loadgen_cpu_window_s"], 0, report)

    def test_closed_loop_gives_up_a_lost_message_and_goes_on(self):
        # The relay never gives message 2 of any sender to one client: with
        # one message on its way per sender, the two other senders would
        # wait for it for ever; after --drain seconds they give it up.
        seats = os.path.join(HERE, "few_seats_chat_server.py")
        with Server([sys.executable, seats, "--seats", "3", "--lose-seq", "2"]) as s:
            status, report, err = loadgen("chat", "--port", s.port, "-c", "3", "--senders", "0",
                                          "--in-flight", "1", "--seconds", "0.8", "--warmup", "0",
                                          "--size", "64", "--drain", "0.2")
        self.assertEqual(status, 0, err)
        self.assertTrue(report["joined"], report)
        self.assertEqual(report["gave_up"], 2, report)
        self.assertEqual(report["lost"], 2, report)
        self.assertEqual(report["deliveries"], report["deliveries_expected"] - 2, report)
        # Every sender went past its message 2.
        self.assertGreater(report["messages_sent"], 3 * 3, report)
        self.assertEqual(report["errors"], 0, report)

    def test_without_join_timeout_every_client_must_join(self):
        seats = os.path.join(HERE, "few_seats_chat_server.py")
        with Server([sys.executable, seats, "--seats", "3"]) as s:
            status, report, err = loadgen("chat", "--port", s.port, "-c", "4", "--seconds", "0.2",
                                          "--connect-timeout", "0.5")
        self.assertEqual(status, 0, err)
        self.assertFalse(report["joined"], report)
        self.assertEqual(report["messages_sent"], 0, report)
        self.assertIn("only 3 of 4 clients joined the room in time", err)


class Idle(unittest.TestCase):
    def test_idle_holds_connections_until_the_time_is_up(self):
        with server("threadpool", "--threads", "2") as s:
            started = time.monotonic()
            status, report, err = loadgen("idle", "--port", s.port, "-c", "5", "--seconds", "0.5",
                                          "--connect-timeout", "0.5")
            elapsed = time.monotonic() - started
        self.assertEqual(status, 0, err)
        self.assertIn("ready: holding 5 connections", err)
        # A pool of 2 greets 2 clients; the other 3 wait in its queue.
        self.assertEqual(report["ready"], 2, report)
        self.assertEqual(report["held_at_end"], 5, report)
        self.assertGreaterEqual(elapsed, 0.5)


class CommandLine(unittest.TestCase):
    def test_a_bad_argument_exits_2_with_a_message(self):
        result = subprocess.run([PATHS["loadgen"], "pingpong", "--port", "1", "--pipeline", "0"],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--pipeline", result.stderr)
        self.assertEqual(result.stdout, "")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--sequential-server", required=True)
    parser.add_argument("--threadpool-server", required=True)
    parser.add_argument("--chat-server", required=True)
    args, rest = parser.parse_known_args()
    PATHS.update(loadgen=args.loadgen, sequential=args.sequential_server,
                 threadpool=args.threadpool_server, chat=args.chat_server)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)


if __name__ == "__main__":
    main()
