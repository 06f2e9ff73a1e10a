// The check of exercise part1-2 (LineUpperSession, contract in
// line_upper_session.hpp): exact replies for LF and CRLF lines, a '\r' split
// from its '\n', the limit at and one past max_line with and without a
// newline, and the same outcome for every split of the input. Built twice,
// against the starting point and against solutions/; ctest requires the first
// to fail and the second to pass.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <line_upper_session.hpp>

#include "split_testing.hpp"

namespace exercises {
namespace {

using cs::as_bytes;
using namespace std::string_literals;

// A limit that no input below reaches, for the tests of plain replies.
constexpr std::size_t roomy = 1000;
const std::string too_long_reply = "-ERR line too long\r\n";

cs::testing::SessionFactory line_upper(std::size_t max_line) {
  return [max_line] { return std::make_unique<LineUpperSession>(max_line); };
}

std::string as_text(const cs::Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// The input in the chunks that start at `cuts` (none: one chunk).
cs::testing::Run run(std::size_t max_line, std::string_view input, std::vector<std::size_t> cuts = {}) {
  return cs::testing::feed_in_chunks(line_upper(max_line), as_bytes(input), cuts);
}

bool mentions(const std::string& reason, const std::string& part) {
  return reason.find(part) != std::string::npos;
}

// --- the protocol --------------------------------------------------------------

TEST(LineUpperSession, HasNoGreeting) {
  const auto result = run(roomy, "");
  EXPECT_EQ(as_text(result.output), "");
  EXPECT_FALSE(result.verdict.close);
}

TEST(LineUpperSession, AnswersALineInUpperCase) {
  EXPECT_EQ(as_text(run(roomy, "hello, world\n").output), "HELLO, WORLD\r\n");
}

TEST(LineUpperSession, AcceptsBothLfAndCrLf) {
  EXPECT_EQ(as_text(run(roomy, "lf\ncrlf\r\n").output), "LF\r\nCRLF\r\n");
}

TEST(LineUpperSession, EmptyLineGetsJustCrLf) {
  EXPECT_EQ(as_text(run(roomy, "\n").output), "\r\n");
  EXPECT_EQ(as_text(run(roomy, "\r\n").output), "\r\n");
}

TEST(LineUpperSession, OnlyAsciiLettersChange) {
  const std::string input = "Mixed 123 {}~ \xe9\xff\0z\n"s;
  EXPECT_EQ(as_text(run(roomy, input).output), "MIXED 123 {}~ \xe9\xff\0Z\r\n"s);
}

TEST(LineUpperSession, CarriageReturnNotBeforeTheLineFeedIsContent) {
  EXPECT_EQ(as_text(run(roomy, "a\rb\n").output), "A\rB\r\n");
  EXPECT_EQ(as_text(run(roomy, "a\r\r\n").output), "A\r\r\n");  // only one '\r' is stripped
}

TEST(LineUpperSession, PipelinedLinesAreAnsweredInOrder) {
  const auto result = run(roomy, "one\ntwo\r\n\nthree\n");
  EXPECT_EQ(as_text(result.output), "ONE\r\nTWO\r\n\r\nTHREE\r\n");
  EXPECT_FALSE(result.verdict.close);
}

TEST(LineUpperSession, PartialLineWaitsForItsNewline) {
  LineUpperSession session(roomy);
  cs::Bytes out;
  EXPECT_FALSE(session.on_receive(as_bytes("abc"), out).close);
  EXPECT_EQ(as_text(out), "");
  EXPECT_FALSE(session.on_receive(as_bytes("def\n"), out).close);
  EXPECT_EQ(as_text(out), "ABCDEF\r\n");
}

TEST(LineUpperSession, CarriageReturnInAnEarlierChunkThanItsLineFeed) {
  EXPECT_EQ(as_text(run(roomy, "abc\r\n", {4}).output), "ABC\r\n");
}

TEST(LineUpperSession, CountsLinesAnswered) {
  LineUpperSession session(roomy);
  cs::Bytes out;
  session.on_receive(as_bytes("a\n\r\nb"), out);
  EXPECT_EQ(session.requests(), 2u);  // "b" is not a line yet
  session.on_receive(as_bytes("\n"), out);
  EXPECT_EQ(session.requests(), 3u);
}

// --- the limit -----------------------------------------------------------------

TEST(LineUpperSession, LineOfExactlyTheLimitIsAnswered) {
  const std::string line(8, 'a');
  for (const std::string terminator : {"\n", "\r\n"}) {
    const auto result = run(8, line + terminator);
    EXPECT_EQ(as_text(result.output), "AAAAAAAA\r\n");
    EXPECT_FALSE(result.verdict.close) << result.verdict.reason;
  }
}

TEST(LineUpperSession, LineOfExactlyTheLimitWithItsCrInAnEarlierChunk) {
  // After "aaaaaaaa\r" the buffer holds 9 bytes, but the '\r' may be the
  // start of the terminator: it is too early to call the line too long.
  LineUpperSession session(8);
  cs::Bytes out;
  const cs::Verdict first = session.on_receive(as_bytes("aaaaaaaa\r"), out);
  EXPECT_FALSE(first.close) << first.reason;
  const cs::Verdict second = session.on_receive(as_bytes("\n"), out);
  EXPECT_FALSE(second.close) << second.reason;
  EXPECT_EQ(as_text(out), "AAAAAAAA\r\n");
}

TEST(LineUpperSession, LineOneOverTheLimitCloses) {
  const auto result = run(8, "aaaaaaaaa\n");
  EXPECT_TRUE(result.verdict.close);
  EXPECT_TRUE(mentions(result.verdict.reason, "line longer than 8 bytes")) << result.verdict.reason;
  EXPECT_EQ(as_text(result.output), too_long_reply);
}

TEST(LineUpperSession, LineOneOverTheLimitClosesWithoutANewline) {
  // The line is already known to be too long; waiting for its '\n' would let
  // a peer that never sends one grow the buffer without bound.
  const auto result = run(8, "aaaaaaaaa");
  EXPECT_TRUE(result.verdict.close);
  EXPECT_TRUE(mentions(result.verdict.reason, "line longer than 8 bytes")) << result.verdict.reason;
  EXPECT_EQ(as_text(result.output), too_long_reply);
}

TEST(LineUpperSession, ClosesOnTheFirstByteOverTheLimit) {
  LineUpperSession session(8);
  cs::Bytes out;
  for (int i = 0; i < 8; ++i) {
    const cs::Verdict verdict = session.on_receive(as_bytes("a"), out);
    ASSERT_FALSE(verdict.close) << "byte " << i + 1 << " of 8 closed: " << verdict.reason;
  }
  EXPECT_TRUE(session.on_receive(as_bytes("a"), out).close);
  EXPECT_EQ(as_text(out), too_long_reply);
}

TEST(LineUpperSession, CarriageReturnFollowedByContentIsOverTheLimit) {
  // Once a byte other than '\n' follows it, the '\r' was content after all.
  LineUpperSession session(8);
  cs::Bytes out;
  EXPECT_FALSE(session.on_receive(as_bytes("aaaaaaaa\r"), out).close);
  EXPECT_TRUE(session.on_receive(as_bytes("x"), out).close);
  EXPECT_EQ(as_text(out), too_long_reply);

  EXPECT_TRUE(run(8, "aaaaaaaa\r\r").verdict.close);
}

TEST(LineUpperSession, PeerThatNeverSendsANewlineIsCutOff) {
  LineUpperSession session(2500);
  cs::Bytes out;
  const std::string chunk(1000, 'x');
  EXPECT_FALSE(session.on_receive(as_bytes(chunk), out).close);
  EXPECT_FALSE(session.on_receive(as_bytes(chunk), out).close);
  const cs::Verdict verdict = session.on_receive(as_bytes(chunk), out);  // bytes 2001..3000
  EXPECT_TRUE(verdict.close);
  EXPECT_TRUE(mentions(verdict.reason, "line longer than 2500 bytes")) << verdict.reason;
  EXPECT_EQ(as_text(out), too_long_reply);
}

TEST(LineUpperSession, EarlierLinesAreAnsweredBeforeTheError) {
  LineUpperSession session(4);
  cs::Bytes out;
  const cs::Verdict verdict = session.on_receive(as_bytes("ok\nfine\ntoolong\nnever\n"), out);
  EXPECT_TRUE(verdict.close);
  EXPECT_EQ(as_text(out), "OK\r\nFINE\r\n" + too_long_reply);  // nothing for "never"
  EXPECT_EQ(session.requests(), 2u);
}

TEST(LineUpperSession, ZeroLimitAllowsOnlyEmptyLines) {
  const auto empty = run(0, "\n\r\n\r");  // the last '\r' may still be a terminator
  EXPECT_EQ(as_text(empty.output), "\r\n\r\n");
  EXPECT_FALSE(empty.verdict.close) << empty.verdict.reason;

  const auto one_byte = run(0, "\na\n");
  EXPECT_EQ(as_text(one_byte.output), "\r\n" + too_long_reply);
  EXPECT_TRUE(one_byte.verdict.close);
  EXPECT_TRUE(mentions(one_byte.verdict.reason, "line longer than 0 bytes"))
      << one_byte.verdict.reason;
}

// --- split invariance ----------------------------------------------------------

TEST(LineUpperSession, EverySplitGivesTheSameOutcome) {
  const std::string inputs[] = {
      "one\ntwo\r\n\r\n\nthree\r\nfour",       // within the limit, a partial line left
      "aaaaaaaa\r\nbbbbbbbb\ncccccccc\r",      // exactly the limit, '\r' at the end
      "ok\naaaaaaaaa",                         // over, no newline
      "ok\naaaaaaaaa\nnever\n",                // over, with newline and more after
      "ok\r\naaaaaaaa\rx\nnever\n",            // a '\r' that turns out to be content
      "aaaaaaaa\r\r\n",                        // two '\r': the first is content
      "a\rb\r\r\n\r",
      "\r\n\r\n\n\n",
  };
  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    cs::testing::expect_split_invariant(line_upper(8), as_bytes(input));
  }
}

TEST(LineUpperSession, EverySplitOfLinesAroundTheLimit) {
  std::string input;
  for (std::size_t length = 0; length <= 12; ++length) {
    input += std::string(length, 'q') + (length % 2 == 0 ? "\n" : "\r\n");
  }
  cs::testing::expect_split_invariant(line_upper(12), as_bytes(input));
  cs::testing::expect_split_invariant(line_upper(11), as_bytes(input));
  EXPECT_FALSE(run(12, input).verdict.close);
  EXPECT_TRUE(run(11, input).verdict.close);
}

}  // namespace
}  // namespace exercises
