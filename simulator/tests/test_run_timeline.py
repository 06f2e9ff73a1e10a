# `run` records sane times and checks replies; `timeline` draws them.
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from .support import SIMULATOR_DIR, server_spec, simulator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401  (only whether it imports matters)
    except ImportError:
        return False
    return True


class RunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory()
        cls.json_path = os.path.join(cls.directory.name, "run.json")
        cls.result = simulator(["run", "-n", "2", "--server", server_spec(),
                                "--json", cls.json_path])

    @classmethod
    def tearDownClass(cls):
        cls.directory.cleanup()

    def test_run_succeeds_and_logs(self):
        self.assertEqual(self.result.returncode, 0, self.result.stdout + self.result.stderr)
        self.assertIn("conn0 sent b'^abc$de^abte$f'", self.result.stdout)
        self.assertIn("conn1 received b'", self.result.stdout)
        self.assertIn("elapsed", self.result.stdout)

    def test_json_times_are_sane(self):
        with open(self.json_path, encoding="utf-8") as source:
            report = json.load(source)
        self.assertEqual(report["protocol"], "shift")
        self.assertEqual(report["clients"], 2)
        self.assertTrue(report["ok"])
        for record in report["records"]:
            times = [record[key] for key in ("connect_start", "connected", "first_byte",
                                             "finished")]
            self.assertEqual(times, sorted(times), record["name"])
            self.assertGreaterEqual(times[0], 0)
            self.assertLessEqual(times[-1], report["elapsed"])
            # The script pauses 1.0 + 1.0 + 0.2 s while being served.
            self.assertGreaterEqual(record["finished"] - record["first_byte"], 2.2)
            event_times = [event["t"] for event in record["events"]]
            self.assertEqual(event_times, sorted(event_times))
            self.assertEqual(record["first_byte"], record["events"][0]["t"])
            received = "".join(event["data"] for event in record["events"]
                               if event["dir"] == "recv").encode("latin-1")
            self.assertEqual(received, b"*bcdbcuf23436bc1111")

    def test_timeline_writes_a_png(self):
        if not have_matplotlib():
            reason = "matplotlib is not installed for %s" % sys.executable
            print("\nskipping the timeline picture test: " + reason, file=sys.stderr)
            self.skipTest(reason)
        picture = os.path.join(self.directory.name, "timeline.png")
        result = simulator(["timeline", self.json_path, self.json_path, "--label", "first",
                            "--label", "second", "--title", "self-test", "-o", picture])
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(picture, "rb") as image:
            self.assertEqual(image.read(len(PNG_SIGNATURE)), PNG_SIGNATURE)
        self.assertGreater(os.path.getsize(picture), 1000)

    def test_timeline_without_matplotlib_says_what_to_do(self):
        # Make `import matplotlib` fail, as on an interpreter without it.
        code = ("import runpy, sys; sys.modules['matplotlib'] = None; "
                "sys.argv = ['simulator'] + sys.argv[1:]; "
                "runpy.run_path(%r, run_name='__main__')" % str(SIMULATOR_DIR))
        picture = os.path.join(self.directory.name, "never.png")
        result = subprocess.run([sys.executable, "-c", code, "timeline", self.json_path,
                                 "-o", picture], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=60)
        self.assertEqual(result.returncode, 2)
        self.assertIn(sys.executable, result.stderr)
        self.assertIn("apt-get install python3-matplotlib", result.stderr)
        self.assertIn("/usr/bin/python3", result.stderr)
        self.assertFalse(os.path.exists(picture))


class RunAgainstBrokenServer(unittest.TestCase):
    def test_wrong_reply_fails_the_run(self):
        with tempfile.TemporaryDirectory() as directory:
            json_path = os.path.join(directory, "run.json")
            result = simulator(["run", "-n", "1", "--server", server_spec("answers-outside"),
                                "--json", json_path, "--step-delays", "0.1,0.1,0.1",
                                "--timeout", "5", "--quiet"])
            self.assertEqual(result.returncode, 1, result.stdout)
            self.assertIn("wrong reply", result.stdout)
            with open(json_path, encoding="utf-8") as source:
                report = json.load(source)
            self.assertFalse(report["ok"])
            self.assertFalse(report["records"][0]["ok"])
            self.assertIn("wrong reply", report["records"][0]["error"])



class RequestSpansTest(unittest.TestCase):
    """The per-request marks of the timeline: which reply bytes answer
    which send, whatever the split (sim_timeline.request_spans)."""

    @staticmethod
    def spans(protocol: str, events: list) -> list:
        sys.path.insert(0, SIMULATOR_DIR)
        import sim_timeline
        record = {"events": [{"t": t, "dir": direction, "data": data}
                             for t, direction, data in events]}
        return sim_timeline.request_spans(record, protocol)

    def test_each_send_ends_at_its_last_reply_byte(self):
        self.assertEqual(self.spans("shift", [
            (0.0, "recv", "*"),
            (1.0, "send", "^ab$"),     # asks for 2 bytes
            (1.1, "recv", "b"),        # half of them
            (1.2, "send", "noise"),    # outside a message: not a request
            (1.3, "send", "^c$"),      # asks for 1 more
            (1.5, "recv", "cd"),       # the rest of the first, and the second
        ]), [(1.0, 1.5), (1.3, 1.5)])

    def test_a_request_never_answered_has_no_end(self):
        self.assertEqual(self.spans("shift", [(0.0, "recv", "*"), (1.0, "send", "^ab$"),
                                              (2.0, "recv", "b")]), [(1.0, None)])

    def test_framed_replies_split_across_receives(self):
        frame = "\x00\x00\x00\x02ab"
        self.assertEqual(self.spans("framed", [(0.5, "send", frame + frame),
                                               (0.6, "recv", "\x00\x00\x00\x02b"),
                                               (0.7, "recv", "c\x00\x00\x00\x02bc")]),
                         [(0.5, 0.7)])

    def test_unknown_protocol_has_no_marks(self):
        self.assertEqual(self.spans("chat", [(0.0, "send", "x")]), [])


class CpuHeavyScenarioTest(unittest.TestCase):
    """The cpu-heavy scenario's mechanics: every client sends its messages in
    one write and is judged on all the replies (the staircase itself needs a
    real server with --work-us: tests/check_work_us.py)."""

    def test_every_client_sends_its_messages_in_one_write(self):
        for protocol in ("shift", "framed"):
            with tempfile.TemporaryDirectory() as directory:
                json_path = os.path.join(directory, "run.json")
                result = simulator(["run", "-n", "3", "--scenario", "cpu-heavy", "--messages",
                                    "3", "--protocol", protocol, "--server", server_spec(),
                                    "--json", json_path])
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                with open(json_path, encoding="utf-8") as source:
                    report = json.load(source)
            self.assertEqual(report["scenario"], "cpu-heavy")
            for record in report["records"]:
                self.assertTrue(record["ok"], record)
                sends = [event["data"] for event in record["events"] if event["dir"] == "send"]
                self.assertEqual(len(sends), 1)
                self.assertEqual(sends[0].count("work"), 3)

    def test_wrong_reply_fails_the_scenario(self):
        result = simulator(["run", "-n", "1", "--scenario", "cpu-heavy", "--server",
                            server_spec("drop-byte"), "--timeout", "5"])
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)


class PingpongScenarioTest(unittest.TestCase):
    """The pingpong scenario's mechanics: requests one at a time, each in one
    write or (--split-writes) in two, the second of which is the request the
    timeline marks; Nagle on or off is the client's socket option. (Whether a
    split write stalls is timing, measured by part 7's experiment 2, not
    asserted here.)"""

    @staticmethod
    def spans(record: dict, protocol: str) -> list:
        sys.path.insert(0, SIMULATOR_DIR)
        import sim_timeline
        return sim_timeline.request_spans(record, protocol)

    def run_pingpong(self, protocol, *extra):
        with tempfile.TemporaryDirectory() as directory:
            json_path = os.path.join(directory, "run.json")
            result = simulator(["run", "-n", "2", "--scenario", "pingpong", "--messages", "3",
                                "--protocol", protocol, "--server", server_spec(),
                                "--json", json_path, *extra])
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            with open(json_path, encoding="utf-8") as source:
                return json.load(source)

    def test_one_write_per_request(self):
        for protocol in ("shift", "framed"):
            report = self.run_pingpong(protocol, "--nagle")
            self.assertEqual((report["scenario"], report["split_writes"], report["nagle"]),
                             ("pingpong", False, True))
            for record in report["records"]:
                self.assertTrue(record["ok"], record)
                sends = [event["data"] for event in record["events"] if event["dir"] == "send"]
                self.assertEqual(len(sends), 3, sends)
                spans = self.spans(record, protocol)
                self.assertEqual(len(spans), 3)
                self.assertTrue(all(answered is not None and answered >= sent
                                    for sent, answered in spans), spans)

    def test_split_writes_send_the_head_then_the_rest(self):
        for protocol, head in (("shift", "^"), ("framed", "\x00\x00\x00\x05")):
            report = self.run_pingpong(protocol, "--split-writes")
            self.assertEqual((report["split_writes"], report["nagle"]), (True, False))
            for record in report["records"]:
                self.assertTrue(record["ok"], record)
                sends = [event["data"] for event in record["events"] if event["dir"] == "send"]
                self.assertEqual(sends[0::2], [head] * 3)
                self.assertEqual([send.strip("$") for send in sends[1::2]],
                                 ["ping1", "ping2", "ping3"])
                # Each request is answered before the next one's head leaves.
                spans = self.spans(record, protocol)
                self.assertEqual(len(spans), 3)
                head_times = [event["t"] for event in record["events"]
                              if event["dir"] == "send" and event["data"] == head]
                for (sent, answered), next_head in zip(spans, head_times[1:]):
                    self.assertLessEqual(sent, answered)
                    self.assertLessEqual(answered, next_head)

    def test_nagle_leaves_tcp_nodelay_off_and_the_default_sets_it(self):
        """Run in this process, so that every setsockopt the clients make
        can be seen; the server is a subprocess, unaffected."""
        sys.path.insert(0, SIMULATOR_DIR)
        import sim_run
        original = socket.socket.setsockopt
        nodelay_calls = []

        def recording(sock, level, option, *value):
            if level == socket.IPPROTO_TCP and option == socket.TCP_NODELAY:
                nodelay_calls.append(value[0])
            return original(sock, level, option, *value)

        for extra, expected in (([], [1, 1]), (["--nagle"], [])):
            nodelay_calls.clear()
            parser = argparse.ArgumentParser()
            sim_run.add_arguments(parser)
            args = parser.parse_args(["-n", "2", "--scenario", "pingpong", "--messages", "2",
                                      "--server", server_spec(), "--quiet", *extra])
            with mock.patch.object(socket.socket, "setsockopt", recording), \
                    contextlib.redirect_stdout(io.StringIO()):
                status = sim_run.main(args)
            self.assertEqual(status, 0, extra)
            self.assertEqual(nodelay_calls, expected, extra)

    def test_split_writes_need_the_pingpong_scenario(self):
        result = simulator(["run", "-n", "1", "--split-writes", "--server", server_spec()])
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("--split-writes needs --scenario pingpong", result.stderr)


if __name__ == "__main__":
    unittest.main()
