// The check of exercise part1-1 (BoundedShiftSession, contract in
// bounded_shift_session.hpp): ordinary shift replies, the limit at and one
// past max_message, what is sent before closing, and the same outcome for
// every split of the input. Built twice, against the starting point and
// against solutions/; ctest requires the first to fail and the second to pass.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <bounded_shift_session.hpp>

#include "split_testing.hpp"

namespace exercises {
namespace {

using cs::as_bytes;

// A limit that no input below reaches, for the tests of plain shift replies.
constexpr std::size_t roomy = 1000;

cs::testing::SessionFactory bounded(std::size_t max_message) {
  return [max_message] { return std::make_unique<BoundedShiftSession>(max_message); };
}

std::string as_text(const cs::Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

// The whole input as one chunk, greeting included.
cs::testing::Run run(std::size_t max_message, std::string_view input) {
  return cs::testing::feed_in_chunks(bounded(max_message), as_bytes(input), {});
}

bool mentions(const std::string& reason, const std::string& part) {
  return reason.find(part) != std::string::npos;
}

// --- plain shift behaviour, which the limit must not change -------------------

TEST(BoundedShiftSession, GreetsWithAStar) {
  const auto result = run(roomy, "");
  EXPECT_EQ(as_text(result.output), "*");
  EXPECT_FALSE(result.verdict.close);
}

TEST(BoundedShiftSession, AnswersLikeShiftWithinTheLimit) {
  // The original series' client script.
  const auto result = run(roomy, "^abc$de^abte$fxyz^12325$^ab0000$abab");
  EXPECT_EQ(as_text(result.output), "*bcdbcuf23436bc1111");
  EXPECT_FALSE(result.verdict.close);
}

TEST(BoundedShiftSession, CaretInsideAMessageIsAnsweredLikeAnyByte) {
  EXPECT_EQ(as_text(run(roomy, "^a^b$").output), "*b_c");  // '^' + 1 == '_'
}

TEST(BoundedShiftSession, ByteFFWrapsToZero) {
  const cs::Bytes input = {'^', 0xFF, 0x00, '$'};
  const auto result = cs::testing::feed_in_chunks(bounded(roomy), input, {});
  EXPECT_EQ(result.output, (cs::Bytes{'*', 0x00, 0x01}));
}

TEST(BoundedShiftSession, RepliesStreamBeforeTheMessageEnds) {
  // Each byte is answered in the call that delivered it: the session keeps a
  // count, never the message.
  BoundedShiftSession session(roomy);
  cs::Bytes out;
  EXPECT_FALSE(session.on_receive(as_bytes("^ab"), out).close);
  EXPECT_EQ(as_text(out), "bc");
  EXPECT_FALSE(session.on_receive(as_bytes("c"), out).close);
  EXPECT_EQ(as_text(out), "bcd");
}

// --- the limit -----------------------------------------------------------------

TEST(BoundedShiftSession, MessageOfExactlyTheLimitIsAnswered) {
  const auto result = run(4, "^abcd$");
  EXPECT_EQ(as_text(result.output), "*bcde");
  EXPECT_FALSE(result.verdict.close) << result.verdict.reason;
}

TEST(BoundedShiftSession, OneByteOverTheLimitCloses) {
  const auto result = run(4, "^abcde$");
  EXPECT_TRUE(result.verdict.close);
  EXPECT_TRUE(mentions(result.verdict.reason, "longer than 4 bytes")) << result.verdict.reason;
  // The four bytes within the limit are answered; the fifth is not.
  EXPECT_EQ(as_text(result.output), "*bcde");
}

TEST(BoundedShiftSession, ClosesOnTheFirstByteOverTheLimitWithoutWaitingForTheDollar) {
  // A peer that never ends its message must still be refused.
  BoundedShiftSession session(4);
  cs::Bytes out;
  EXPECT_FALSE(session.on_receive(as_bytes("^abcd"), out).close);
  const cs::Verdict verdict = session.on_receive(as_bytes("e"), out);
  EXPECT_TRUE(verdict.close);
  EXPECT_TRUE(mentions(verdict.reason, "longer than 4 bytes")) << verdict.reason;
  EXPECT_EQ(as_text(out), "bcde");
}

TEST(BoundedShiftSession, EndlessMessageIsCutAtTheLimit) {
  const std::size_t limit = 64 * 1024;
  const auto result = run(limit, "^" + std::string(1'000'000, 'x'));
  EXPECT_TRUE(result.verdict.close);
  EXPECT_TRUE(mentions(result.verdict.reason, "longer than 65536 bytes")) << result.verdict.reason;
  // Sizes first: a failure then reports two numbers, not a megabyte of 'y'.
  ASSERT_EQ(result.output.size(), 1 + limit);
  EXPECT_EQ(as_text(result.output), "*" + std::string(limit, 'y'));
}

TEST(BoundedShiftSession, RepliesBeforeTheOffendingByteAreSentAndNothingAfter) {
  const auto result = run(3, "^ab$^xyzw$^c$");
  EXPECT_TRUE(result.verdict.close);
  EXPECT_EQ(as_text(result.output), "*bc" "yz{");  // not the 'w', not the later "^c$"
}

TEST(BoundedShiftSession, DollarResetsTheCount) {
  const auto result = run(3, "^abc$^def$^ghi$");
  EXPECT_EQ(as_text(result.output), "*bcdefghij");
  EXPECT_FALSE(result.verdict.close) << result.verdict.reason;
}

TEST(BoundedShiftSession, CaretInsideAMessageCountsTowardsTheLimit) {
  const auto three_carets = run(3, "^^^^$");  // content "^^^"
  EXPECT_EQ(as_text(three_carets.output), "*___");
  EXPECT_FALSE(three_carets.verdict.close) << three_carets.verdict.reason;

  const auto four_carets = run(3, "^^^^^$");  // content "^^^^"
  EXPECT_EQ(as_text(four_carets.output), "*___");
  EXPECT_TRUE(four_carets.verdict.close);
}

TEST(BoundedShiftSession, BytesOutsideMessagesDoNotCount) {
  const auto result = run(2, "xxxxxxxxxx$$$^ab$yyyyyyyyyy");
  EXPECT_EQ(as_text(result.output), "*bc");
  EXPECT_FALSE(result.verdict.close) << result.verdict.reason;
}

TEST(BoundedShiftSession, ZeroLimitAllowsOnlyEmptyMessages) {
  const auto empty = run(0, "^$^$");
  EXPECT_EQ(as_text(empty.output), "*");
  EXPECT_FALSE(empty.verdict.close) << empty.verdict.reason;

  const auto one_byte = run(0, "^$^a$");
  EXPECT_EQ(as_text(one_byte.output), "*");
  EXPECT_TRUE(one_byte.verdict.close);
  EXPECT_TRUE(mentions(one_byte.verdict.reason, "longer than 0 bytes")) << one_byte.verdict.reason;
}

TEST(BoundedShiftSession, CountsCompletedMessagesOnly) {
  BoundedShiftSession session(2);
  cs::Bytes out;
  EXPECT_FALSE(session.on_receive(as_bytes("^a$^bb$"), out).close);
  EXPECT_EQ(session.requests(), 2u);
  EXPECT_TRUE(session.on_receive(as_bytes("^ccc$"), out).close);
  EXPECT_EQ(session.requests(), 2u);  // the refused message was never completed
}

// --- split invariance ----------------------------------------------------------

TEST(BoundedShiftSession, EverySplitGivesTheSameOutcome) {
  const std::string inputs[] = {
      "^abcd$^^^^$^$xx^dcba$",                 // at the limit, never closes
      "^abc$de^abte$fxyz^12325$^ab0000$abab",  // "12325" is over: closes
      "^ab$^abcde$never",                      // closes on the 'e'
      "^abcd",                                 // at the limit, unterminated
      "^^^^^^$$$$$$",                          // five carets of content: closes
      "no message at all",
  };
  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    cs::testing::expect_split_invariant(bounded(4), as_bytes(input));
  }
}

TEST(BoundedShiftSession, EverySplitOfAllByteValues) {
  cs::Bytes input = {'^'};
  for (int b = 0; b < 256; ++b) {
    if (b != '$') input.push_back(static_cast<cs::Byte>(b));
  }
  input.push_back('$');  // 255 content bytes

  cs::testing::expect_split_invariant(bounded(255), input, 50);
  const auto fits = cs::testing::feed_in_chunks(bounded(255), input, {});
  EXPECT_FALSE(fits.verdict.close) << fits.verdict.reason;
  EXPECT_EQ(fits.output.size(), 1u + 255u);

  cs::testing::expect_split_invariant(bounded(254), input, 50);
  const auto over = cs::testing::feed_in_chunks(bounded(254), input, {});
  EXPECT_TRUE(over.verdict.close);
  EXPECT_EQ(over.output.size(), 1u + 254u);
}

}  // namespace
}  // namespace exercises
