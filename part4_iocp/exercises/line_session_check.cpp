// The check of exercise part4-2 (REVERSE for the line protocol; contract in
// line_session.hpp): the exact replies of REVERSE, its word rules, that
// the other commands are unchanged, and the same replies for every split
// of the input. Built twice, against the starting point and against
// solutions/; ctest requires the first to fail and the second to pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <line_session.hpp>

#include "split_testing.hpp"

namespace exercises {
namespace {

constexpr std::string_view ready = "+OK ready\r\n";

// Feeds `input` to a fresh session in the chunks given by `cuts`; returns
// everything it sent after the greeting, and whether it closed.
std::pair<std::string, bool> talk(std::string_view input, const std::vector<std::size_t>& cuts = {},
                                  std::size_t max_line = default_max_line) {
  LineSession session(max_line);
  cs::Bytes out;
  session.greet(out);
  const cs::ByteView bytes = cs::as_bytes(input);
  bool closed = false;
  std::size_t start = 0;
  auto feed = [&](std::size_t end) {
    if (closed || end <= start) return;
    closed = session.on_receive(bytes.subspan(start, end - start), out).close;
    start = end;
  };
  for (const std::size_t cut : cuts) feed(cut);
  feed(bytes.size());
  std::string text(out.begin(), out.end());
  EXPECT_EQ(text.substr(0, ready.size()), ready);
  return {text.substr(ready.size()), closed};
}

std::string replies(std::string_view input) { return talk(input).first; }

TEST(Reverse, RepliesWithTheTextReversed) {
  EXPECT_EQ(replies("REVERSE abc\r\n"), "+OK cba\r\n");
  EXPECT_EQ(replies("REVERSE hello world\r\n"), "+OK dlrow olleh\r\n");
}

TEST(Reverse, KeepsTheSeparatingSpaceFirstAndReversesTheRestExactly) {
  EXPECT_EQ(replies("REVERSE  a b \r\n"), "+OK  b a \r\n");  // the text is " a b "
  EXPECT_EQ(replies("REVERSE x\r\n"), "+OK x\r\n");
}

TEST(Reverse, AloneAnswersOk) {
  EXPECT_EQ(replies("REVERSE\r\n"), "+OK\r\n");
  EXPECT_EQ(replies("REVERSE \r\n"), "+OK \r\n");
}

TEST(Reverse, IsMatchedCaseInsensitivelyButTheTextKeepsItsCase) {
  EXPECT_EQ(replies("reverse AbC\n"), "+OK CbA\r\n");
  EXPECT_EQ(replies("ReVeRsE Xy\r\n"), "+OK yX\r\n");
}

TEST(Reverse, MustBeAWholeWord) {
  EXPECT_EQ(replies("REVERSED abc\r\n"), "-ERR unknown command\r\n");
  EXPECT_EQ(replies("REVERS abc\r\n"), "-ERR unknown command\r\n");
}

TEST(Reverse, TheOtherCommandsAreUnchanged) {
  const auto [text, closed] =
      talk("ECHO hi\r\nNOOP\r\nHELP\r\nREVERSE ab\r\nQUIT\r\nREVERSE no\r\n");
  EXPECT_EQ(text, "+OK hi\r\n+OK\r\n-ERR unknown command\r\n+OK ba\r\n+OK bye\r\n");
  EXPECT_TRUE(closed);
}

TEST(Reverse, ALineTooLongIsStillRefused) {
  const auto [text, closed] = talk("REVERSE " + std::string(20, 'r') + "\r\n", {}, 16);
  EXPECT_EQ(text, "-ERR line too long\r\n");
  EXPECT_TRUE(closed);
}

TEST(Reverse, EverySplitGivesTheSameReplies) {
  const std::string input = "REVERSE abc\r\nreverse \r\nREVERSE\nREVERSED x\r\nREVERSE a\rb\r\nQUIT\r\n";
  const auto whole = talk(input);
  ASSERT_EQ(whole.first,
            "+OK cba\r\n+OK \r\n+OK\r\n-ERR unknown command\r\n+OK b\ra\r\n+OK bye\r\n");
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    ASSERT_EQ(talk(input, {cut}), whole) << "split once at " << cut;
  }
  ASSERT_EQ(talk(input, cs::testing::every_byte(input.size())), whole) << "one byte at a time";
  std::mt19937 random(4242);
  for (int round = 0; round < 200; ++round) {
    ASSERT_EQ(talk(input, cs::testing::random_cuts(input.size(), random)), whole)
        << "random split, round " << round;
  }
}

}  // namespace
}  // namespace exercises
