// The line protocol: every command's exact reply, line endings, case,
// ECHO's exact-word rule, QUIT, the line-length limit (with and without an
// LF ever coming), and the same replies for every split of the input.
#include <gtest/gtest.h>

#include <string>

#include "line_session.hpp"
#include "split_testing.hpp"

namespace part4 {
namespace {

using cs::testing::as_text;
using cs::testing::expect_split_invariant;
using cs::testing::feed_in_chunks;

constexpr std::string_view ready = "+OK ready\r\n";

cs::testing::SessionFactory line_sessions(std::size_t max_line = default_max_line) {
  return [max_line] { return std::make_unique<LineSession>(max_line); };
}

// The replies after the greeting, and the verdict.
struct Answer {
  std::string replies;
  cs::Verdict verdict;
};

Answer talk(std::string_view input, std::size_t max_line = default_max_line) {
  const auto run = feed_in_chunks(line_sessions(max_line), cs::as_bytes(input), {});
  std::string text = as_text(run.output);
  EXPECT_EQ(text.substr(0, ready.size()), ready);
  return {text.substr(ready.size()), run.verdict};
}

std::string replies(std::string_view input) { return talk(input).replies; }

TEST(LineSession, GreetsWithOkReady) {
  EXPECT_EQ(as_text(feed_in_chunks(line_sessions(), {}, {}).output), ready);
}

TEST(LineSession, EchoRepliesWithTheRestOfTheLineVerbatim) {
  EXPECT_EQ(replies("ECHO hello world\r\n"), "+OK hello world\r\n");
  EXPECT_EQ(replies("ECHO   two  spaces \r\n"), "+OK   two  spaces \r\n");
  EXPECT_EQ(replies("ECHO\r\n"), "+OK\r\n");
  EXPECT_EQ(replies("ECHO \r\n"), "+OK \r\n");
}

TEST(LineSession, EchoMustBeAWholeWord) {
  EXPECT_EQ(replies("ECHOX\r\n"), "-ERR unknown command\r\n");
  EXPECT_EQ(replies("ECHOhello\r\n"), "-ERR unknown command\r\n");
  EXPECT_EQ(replies("ECH\r\n"), "-ERR unknown command\r\n");
  EXPECT_EQ(replies(" ECHO x\r\n"), "-ERR unknown command\r\n");
}

TEST(LineSession, CommandWordsIgnoreCaseButEchoedTextKeepsIt) {
  EXPECT_EQ(replies("echo MiXeD\r\nNoOp\r\nnoop\r\n"), "+OK MiXeD\r\n+OK\r\n+OK\r\n");
  const auto quit = talk("qUiT\r\n");
  EXPECT_EQ(quit.replies, "+OK bye\r\n");
  EXPECT_TRUE(quit.verdict.close);
}

TEST(LineSession, NoopAnswersOk) { EXPECT_EQ(replies("NOOP\r\n"), "+OK\r\n"); }

TEST(LineSession, ACommandIgnoresArgumentsItDoesNotTake) {
  EXPECT_EQ(replies("NOOP anything\r\n"), "+OK\r\n");
  EXPECT_EQ(talk("QUIT now\r\n").replies, "+OK bye\r\n");
}

TEST(LineSession, UnknownCommandsAndEmptyLinesKeepTheConnectionOpen) {
  const auto answer = talk("HELO x\r\n\r\n\n\rNOOP\r\n");
  EXPECT_EQ(answer.replies,
            "-ERR unknown command\r\n-ERR unknown command\r\n-ERR unknown command\r\n"
            "-ERR unknown command\r\n");  // "\rNOOP" is not NOOP: only a CR before LF is stripped
  EXPECT_FALSE(answer.verdict.close);
}

TEST(LineSession, BareLfEndsALineAndOnlyOneCrIsStripped) {
  EXPECT_EQ(replies("ECHO a\n"), "+OK a\r\n");
  EXPECT_EQ(replies("ECHO a\r\r\n"), "+OK a\r\r\n");  // the first CR is text
  EXPECT_EQ(replies("ECHO a\rb\r\n"), "+OK a\rb\r\n");
}

TEST(LineSession, QuitSaysByeAndIgnoresEverythingAfterIt) {
  const auto answer = talk("NOOP\r\nQUIT\r\nECHO too late\r\nNOOP\r\n");
  EXPECT_EQ(answer.replies, "+OK\r\n+OK bye\r\n");
  EXPECT_TRUE(answer.verdict.close);
  EXPECT_EQ(answer.verdict.reason, "client sent QUIT");
}

TEST(LineSession, QuitIsReportedAsTheNormalEnd) {
  LineSession session;
  cs::Bytes out;
  EXPECT_FALSE(session.quit_received());
  session.on_receive(cs::as_bytes("QUIT\r\n"), out);
  EXPECT_TRUE(session.quit_received());
  const auto later = session.on_receive(cs::as_bytes("NOOP\r\n"), out);
  EXPECT_TRUE(later.close) << "a session that said bye stays closed";
  EXPECT_EQ(as_text(out), "+OK bye\r\n");
}

TEST(LineSession, AnswersPipelinedCommandsInOrderInOneChunk) {
  LineSession session;
  cs::Bytes out;
  session.on_receive(cs::as_bytes("ECHO 1\r\nNOOP\r\nBAD\r\nECHO 2\r\n"), out);
  EXPECT_EQ(as_text(out), "+OK 1\r\n+OK\r\n-ERR unknown command\r\n+OK 2\r\n");
  EXPECT_EQ(session.requests(), 4u);
}

TEST(LineSession, ALineOfExactlyMaxLineIsFine) {
  const std::string text = "ECHO " + std::string(16 - 5, 'x');  // 16 bytes
  EXPECT_EQ(talk(text + "\r\n", 16).replies, "+OK" + text.substr(4) + "\r\n");
  EXPECT_EQ(talk(text + "\n", 16).replies, "+OK" + text.substr(4) + "\r\n");
}

TEST(LineSession, ALineOverMaxLineIsRefusedAndCloses) {
  const std::string text = "ECHO " + std::string(16 - 4, 'x');  // 17 bytes
  const auto answer = talk("NOOP\r\n" + text + "\r\nNOOP\r\n", 16);
  EXPECT_EQ(answer.replies, "+OK\r\n-ERR line too long\r\n");
  EXPECT_TRUE(answer.verdict.close);
  EXPECT_NE(answer.verdict.reason.find("--max-line"), std::string::npos) << answer.verdict.reason;
}

TEST(LineSession, ALongLineIsRefusedBeforeItsLfArrives) {
  LineSession session(16);
  cs::Bytes out;
  EXPECT_FALSE(session.on_receive(cs::as_bytes(std::string(16, 'a')), out).close);
  EXPECT_EQ(session.partial(), 16u);
  const auto verdict = session.on_receive(cs::as_bytes("a"), out);
  EXPECT_TRUE(verdict.close) << "one byte over the limit without an LF is already too long";
  EXPECT_EQ(as_text(out), "-ERR line too long\r\n");
}

TEST(LineSession, BuffersAtMostMaxLinePlusACr) {
  LineSession session(16);
  cs::Bytes out;
  // 16 bytes and a CR: the CR may be the one before an LF, so wait.
  EXPECT_FALSE(session.on_receive(cs::as_bytes(std::string(16, 'a') + "\r"), out).close);
  EXPECT_EQ(session.partial(), 17u);
  EXPECT_FALSE(session.on_receive(cs::as_bytes("\n"), out).close);
  EXPECT_EQ(as_text(out), "-ERR unknown command\r\n");
  // The same 17 bytes followed by text: the CR was text, and the line too long.
  LineSession other(16);
  cs::Bytes other_out;
  other.on_receive(cs::as_bytes(std::string(16, 'a') + "\r"), other_out);
  EXPECT_TRUE(other.on_receive(cs::as_bytes("b"), other_out).close);
  EXPECT_EQ(as_text(other_out), "-ERR line too long\r\n");
}

TEST(LineSession, AHugeChunkWithoutLfIsRefusedWithoutBufferingIt) {
  LineSession session(16);
  cs::Bytes out;
  EXPECT_TRUE(session.on_receive(cs::as_bytes(std::string(100000, 'z')), out).close);
  EXPECT_EQ(session.partial(), 0u);
}

TEST(LineSession, RefusesAMaxLineOutsideItsRange) {
  EXPECT_THROW(LineSession(smallest_max_line - 1), std::invalid_argument);
  EXPECT_THROW(LineSession(largest_max_line + 1), std::invalid_argument);
  EXPECT_NO_THROW(LineSession{smallest_max_line});
  EXPECT_NO_THROW(LineSession{largest_max_line});
}

TEST(LineSession, AnUnfinishedLineIsHeldNotAnswered) {
  LineSession session;
  cs::Bytes out;
  session.on_receive(cs::as_bytes("NOOP\r\nECHO par"), out);
  EXPECT_EQ(as_text(out), "+OK\r\n");
  EXPECT_EQ(session.partial(), 8u) << "what the server drops at EOF";
}

TEST(LineSession, EverySplitGivesTheSameReplies) {
  const std::string at_limit = "ECHO " + std::string(11, 'm');  // 16 bytes
  const std::string inputs[] = {
      "ECHO hello world\r\nnoop\r\nECHOX\r\n\r\nEcHo MiXeD\nQUIT\r\nECHO after\r\n",
      "ECHO a\r\r\nECHO b\rc\r\n\rNOOP\r\nNOOP x\n",
      at_limit + "\r\n" + at_limit + "\n" + at_limit + "\r",          // ends inside a line
      "NOOP\r\n" + at_limit + "x\r\nNOOP\r\n",                          // too long with an LF
      "NOOP\n" + std::string(40, 'y'),                                  // too long, no LF ever
      std::string(16, 'q') + "\r\r\n",                                  // CR as text: too long
      std::string(16, 'q') + "\r" + "x",                                // 17 bytes then text
      "QUIT\r\n" + std::string(100, 'w'),                               // nothing after QUIT counts
      "ECHO ok\r\nQUIT",                                                // QUIT without its LF
  };
  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    expect_split_invariant(line_sessions(16), cs::as_bytes(input));
  }
}

}  // namespace
}  // namespace part4
