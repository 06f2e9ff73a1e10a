# Unit tests of the reference models and of the small pure helpers: every
# expected value here is written out by hand, not computed by the model.
from __future__ import annotations

import os
import sys
import unittest

from sim_net import abbreviate, describe_mismatch, first_difference
from sim_protocols import (FRAMED, LINE, PACKET, SHIFT, FrameDecoder, FramedModel, LineModel,
                           PacketModel, ShiftModel, decode_frames, encode_frame, encode_frames,
                           encode_header, encode_packet, encode_packets, expected_framed_reply,
                           expected_reply, expected_stream_reply, frame_reply,
                           line_text_too_long, shift_bytes, shift_message)
from sim_server import format_address, parse_address, parse_listening_line, server_command

ORIGINAL_CLIENT_INPUT = b"^abc$de^abte$f" + b"xyz^123" + b"25$^ab0000$abab"


class ShiftModelTest(unittest.TestCase):
    def test_original_client_script(self):
        self.assertEqual(expected_reply(ORIGINAL_CLIENT_INPUT), b"*bcdbcuf23436bc1111")

    def test_original_tester2(self):
        self.assertEqual(expected_reply(b"^ab$^kl$^80$50"), b"*bclm91")

    def test_original_tester1_steps(self):
        model = ShiftModel()
        replies = [model.feed(step) for step in
                   (b"abcdef", b"^", b"f", b"1234", b"$", b"1234", b"^", b"xy")]
        self.assertEqual(replies, [b"", b"", b"g", b"2345", b"", b"", b"", b"yz"])

    def test_caret_inside_message_is_ordinary(self):
        self.assertEqual(expected_reply(b"^a^b$"), b"*b_c")
        self.assertEqual(expected_reply(b"^^^$"), b"*__")

    def test_dollar_outside_is_ignored(self):
        self.assertEqual(expected_reply(b"$$^a$$b$"), b"*b")

    def test_outside_bytes_are_ignored(self):
        self.assertEqual(expected_reply(b"xyz\xff\x00"), b"*")

    def test_wraps_ff_to_00(self):
        self.assertEqual(expected_reply(b"^\xfe\xff\x00$"), b"*\xff\x00\x01")

    def test_greeting_alone(self):
        self.assertEqual(expected_reply(b""), b"*")

    def test_every_split_gives_the_same_reply(self):
        whole = ShiftModel().feed(ORIGINAL_CLIENT_INPUT)
        for split in range(len(ORIGINAL_CLIENT_INPUT) + 1):
            model = ShiftModel()
            parts = model.feed(ORIGINAL_CLIENT_INPUT[:split]) + \
                model.feed(ORIGINAL_CLIENT_INPUT[split:])
            self.assertEqual(parts, whole, "split at %d" % split)

    def test_state_carries_across_feeds(self):
        model = ShiftModel()
        self.assertEqual(model.feed(b"^ab"), b"bc")
        self.assertTrue(model.in_message)
        self.assertEqual(model.feed(b"c$d"), b"d")
        self.assertFalse(model.in_message)

    def test_shift_bytes_covers_all_values(self):
        self.assertEqual(shift_bytes(bytes(range(256))), bytes(range(1, 256)) + b"\x00")

    def test_shift_message(self):
        self.assertEqual(shift_message(b"abc"), b"^abc$")
        with self.assertRaises(ValueError):
            shift_message(b"a$b")


class FramedModelTest(unittest.TestCase):
    def test_header_is_big_endian(self):
        self.assertEqual(encode_header(0x01020304), b"\x01\x02\x03\x04")
        self.assertEqual(encode_header(0), b"\x00\x00\x00\x00")

    def test_encode_frame(self):
        self.assertEqual(encode_frame(b"abc"), b"\x00\x00\x00\x03abc")
        self.assertEqual(encode_frames([b"a", b""]), b"\x00\x00\x00\x01a\x00\x00\x00\x00")

    def test_frame_reply(self):
        self.assertEqual(frame_reply(b"ab0000"), b"\x00\x00\x00\x06bc1111")
        self.assertEqual(frame_reply(b"\xff"), b"\x00\x00\x00\x01\x00")
        self.assertEqual(frame_reply(b""), b"\x00\x00\x00\x00")

    def test_decode_with_leftover(self):
        payloads, rest = decode_frames(b"\x00\x00\x00\x02hi\x00\x00\x00\x00\x00\x00\x00\x05abc")
        self.assertEqual(payloads, [b"hi", b""])
        self.assertEqual(rest, b"\x00\x00\x00\x05abc")

    def test_decoder_fed_one_byte_at_a_time(self):
        stream = encode_frames([b"hello", b"", b"\x00\xff"])
        decoder = FrameDecoder()
        payloads = []
        for index in range(len(stream)):
            payloads += decoder.feed(stream[index:index + 1])
        self.assertEqual(payloads, [b"hello", b"", b"\x00\xff"])
        self.assertEqual(decoder.pending, b"")

    def test_expected_reply_ignores_an_incomplete_frame(self):
        stream = encode_frame(b"ab") + b"\x00\x00"
        self.assertEqual(expected_framed_reply(stream), b"\x00\x00\x00\x02bc")

    def test_model_answers_only_completed_frames(self):
        model = FramedModel()
        self.assertEqual(model.greeting, b"")
        self.assertEqual(model.feed(b"\x00\x00\x00\x03a"), b"")
        self.assertEqual(model.feed(b"bc\x00\x00"), b"\x00\x00\x00\x03bcd")
        self.assertEqual(model.feed(b"\x00\x00"), b"\x00\x00\x00\x00")

    def test_protocol_table(self):
        self.assertEqual(expected_stream_reply(SHIFT, b"^a$"), b"*b")
        self.assertEqual(expected_stream_reply(FRAMED, encode_frame(b"a")), b"\x00\x00\x00\x01b")


class PacketModelTest(unittest.TestCase):
    def test_encode_packet_counts_the_header(self):
        self.assertEqual(encode_packet(b"a"), b"\x02a")
        self.assertEqual(encode_packet(b"hello"), b"\x06hello")
        self.assertEqual(encode_packet(bytes(254))[:1], b"\xff")
        self.assertEqual(encode_packets([b"a", b"bc"]), b"\x02a\x03bc")
        for body in (b"", bytes(255)):
            with self.assertRaises(ValueError):
                encode_packet(body)

    def test_echoes_complete_packets_only(self):
        model = PacketModel()
        self.assertEqual(model.greeting, b"")
        self.assertEqual(model.feed(b"\x02a\x04b"), b"\x02a")
        self.assertEqual(model.feed(b"c"), b"")
        self.assertEqual(model.feed(b"d\x02"), b"\x04bcd")
        self.assertEqual(model.feed(b"\x00"), b"\x02\x00")  # a body byte, not a header
        self.assertFalse(model.closed)

    def test_bad_header_closes_after_earlier_echoes(self):
        for header in (0, 1):
            model = PacketModel()
            self.assertEqual(model.feed(b"\x02a" + bytes([header]) + b"\x02b"), b"\x02a")
            self.assertTrue(model.closed)
            self.assertEqual(model.feed(b"\x02c"), b"")

    def test_header_ff_is_a_255_byte_packet(self):
        packet = b"\xff" + bytes(range(254))
        model = PacketModel()
        self.assertEqual(model.feed(packet[:254]), b"")
        self.assertEqual(model.feed(packet[254:]), packet)


class LineModelTest(unittest.TestCase):
    def test_greeting_and_commands(self):
        model = LineModel()
        self.assertEqual(model.greeting, b"+OK ready\r\n")
        self.assertEqual(model.feed(b"ECHO hello world\r\n"), b"+OK hello world\r\n")
        self.assertEqual(model.feed(b"ECHO\r\n"), b"+OK\r\n")
        self.assertEqual(model.feed(b"ECHO  two \n"), b"+OK  two \r\n")
        self.assertEqual(model.feed(b"NOOP\r\n"), b"+OK\r\n")
        self.assertEqual(model.feed(b"eChO x\nnoop\n"), b"+OK x\r\n+OK\r\n")
        self.assertFalse(model.closed)

    def test_unknown_commands_keep_the_connection(self):
        model = LineModel()
        for line in (b"HELLO\r\n", b"\r\n", b"\n", b"ECHOX\r\n", b"ECHO\tx\n", b" ECHO x\n",
                     b"QUITS\n"):
            self.assertEqual(model.feed(line), b"-ERR unknown command\r\n", line)
        self.assertFalse(model.closed)

    def test_only_one_cr_is_stripped(self):
        model = LineModel()
        self.assertEqual(model.feed(b"ECHO a\r\r\n"), b"+OK a\r\r\n")
        self.assertEqual(model.feed(b"ECHO a\rb\n"), b"+OK a\rb\r\n")

    def test_quit_ignores_what_follows(self):
        model = LineModel()
        self.assertEqual(model.feed(b"ECHO a\r\nquit\r\nECHO b\r\n"),
                         b"+OK a\r\n+OK bye\r\n")
        self.assertTrue(model.closed)
        self.assertEqual(model.feed(b"NOOP\r\n"), b"")

    def test_line_of_exactly_max_line_is_answered(self):
        line = b"ECHO " + b"x" * 11  # 16 bytes
        self.assertEqual(LineModel(16).feed(line + b"\r\n"), b"+OK " + b"x" * 11 + b"\r\n")
        model = LineModel(16)
        self.assertEqual(model.feed(line + b"\r"), b"")  # the CR may be the stripped one
        self.assertEqual(model.feed(b"\n"), b"+OK " + b"x" * 11 + b"\r\n")

    def test_too_long_without_lf_is_detected_at_once(self):
        model = LineModel(16)
        self.assertEqual(model.feed(b"NOOP\n" + b"y" * 16), b"+OK\r\n")
        self.assertEqual(model.feed(b"y"), b"-ERR line too long\r\n")
        self.assertTrue(model.closed)
        self.assertEqual(model.feed(b"\n"), b"")

    def test_too_long_with_lf(self):
        model = LineModel(16)
        self.assertEqual(model.feed(b"x" * 17 + b"\r\nNOOP\r\n"), b"-ERR line too long\r\n")
        self.assertTrue(model.closed)

    def test_trailing_cr_rule(self):
        self.assertFalse(line_text_too_long(b"x" * 16 + b"\r", 16))
        self.assertTrue(line_text_too_long(b"x" * 16 + b"\r\r", 16))
        self.assertTrue(line_text_too_long(b"x" * 17, 16))

    def test_protocol_table(self):
        self.assertEqual(expected_stream_reply(PACKET, b"\x02a\x01"), b"\x02a")
        self.assertEqual(expected_stream_reply(LINE, b"NOOP\n"), b"+OK ready\r\n+OK\r\n")
        self.assertEqual(expected_stream_reply(LINE, b"x" * 17, max_line=16),
                         b"+OK ready\r\n-ERR line too long\r\n")


class HelpersTest(unittest.TestCase):
    def test_abbreviate(self):
        self.assertEqual(abbreviate(b"abc"), "b'abc'")
        long_text = abbreviate(bytes(1000))
        self.assertIn("(1000 bytes)", long_text)
        self.assertLess(len(long_text), 300)

    def test_mismatch_names_the_first_difference(self):
        self.assertEqual(first_difference(b"abcd", b"abxd"), 2)
        self.assertEqual(first_difference(b"abc", b"ab"), 2)
        self.assertIn("first difference at byte 2", describe_mismatch(b"abcd", b"abxd"))

    def test_listening_line(self):
        self.assertEqual(parse_listening_line("listening on 127.0.0.1:9090\n"), ("127.0.0.1", 9090))
        self.assertEqual(parse_listening_line("listening on [::1]:80"), ("::1", 80))
        self.assertEqual(parse_listening_line("listening on 0.0.0.0:1"), ("127.0.0.1", 1))
        self.assertEqual(parse_listening_line("listening on [::]:5"), ("::1", 5))
        with self.assertRaises(ValueError):
            parse_listening_line("ready on port 80")

    def test_address(self):
        self.assertEqual(parse_address("localhost:9090"), ("localhost", 9090))
        self.assertEqual(parse_address("[::1]:9090"), ("::1", 9090))
        self.assertEqual(format_address("::1", 9090), "[::1]:9090")
        with self.assertRaises(ValueError):
            parse_address("9090")

    def test_server_command(self):
        self.assertEqual(server_command("build/server --threads 4", "framed"),
                         ["build/server", "--port", "0", "--protocol", "framed",
                          "--threads", "4"])
        self.assertEqual(server_command("srv", "shift", max_frame=64),
                         ["srv", "--port", "0", "--protocol", "shift", "--max-frame", "64"])
        self.assertEqual(server_command("tests/x.py", "shift")[:3],
                         [sys.executable, "-u", "tests/x.py"])
        if os.name != "nt":
            self.assertEqual(server_command("build-win/srv.exe", "line")[:5],
                             ["wine", "build-win/srv.exe", "--port", "0", "--protocol"])


if __name__ == "__main__":
    unittest.main()
