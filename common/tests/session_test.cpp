// The shift and framed sessions: exact replies, and the same replies for
// every split of the input (all single split points, one byte at a time,
// and many random multi-way splits).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "cs/frame_codec.hpp"
#include "cs/framed_session.hpp"
#include "cs/shift_session.hpp"
#include "split_testing.hpp"

namespace cs {
namespace {

using testing::as_text;
using testing::expect_split_invariant;
using testing::feed_in_chunks;

const SessionLimits default_limits{};


std::string shift_reply(std::string_view input) {
  return as_text(feed_in_chunks(Protocol::shift, default_limits, as_bytes(input), {}).output);
}

// --- shift ------------------------------------------------------------------

TEST(ShiftSession, GreetsWithAStar) { EXPECT_EQ(shift_reply(""), "*"); }

TEST(ShiftSession, AnswersEachByteOfAMessageWithItsSuccessor) {
  EXPECT_EQ(shift_reply("^abc$"), "*bcd");
}

TEST(ShiftSession, IgnoresBytesOutsideMessages) {
  EXPECT_EQ(shift_reply("xyz$$^a$qq"), "*b");
}

TEST(ShiftSession, CaretInsideAMessageIsAnOrdinaryByte) {
  EXPECT_EQ(shift_reply("^a^b$"), "*b_c");  // '^' + 1 == '_'
}

TEST(ShiftSession, DollarOutsideAMessageIsIgnored) { EXPECT_EQ(shift_reply("$$$^z$"), "*{"); }

TEST(ShiftSession, ByteFFWrapsToZero) {
  const Bytes input = {'^', 0xFF, 0x00, 0x7F, '$'};
  const auto run = feed_in_chunks(Protocol::shift, default_limits, input, {});
  EXPECT_EQ(run.output, (Bytes{'*', 0x00, 0x01, 0x80}));
}

TEST(ShiftSession, MessageMaySpanManyChunksAndNeverCloses) {
  // The original series' client script, as its three sends.
  const std::string input = "^abc$de^abte$f" "xyz^123" "25$^ab0000$abab";
  const auto run = feed_in_chunks(Protocol::shift, default_limits, as_bytes(input), {14, 21});
  EXPECT_EQ(as_text(run.output), "*bcdbcuf23436bc1111");
  EXPECT_FALSE(run.verdict.close);
}

TEST(ShiftSession, CountsCompletedMessages) {
  ShiftSession session;
  Bytes out;
  session.on_receive(as_bytes("^a$^b$^c"), out);
  EXPECT_EQ(session.requests(), 2u);
}

TEST(ShiftSession, AnswersAWholeChunkInOneRun) {
  // One call appends every reply byte of the chunk: the server sends them
  // with one send() instead of one per byte.
  ShiftSession session;
  Bytes out;
  session.on_receive(as_bytes("^abc$^de$"), out);
  EXPECT_EQ(as_text(out), "bcdef");
}

TEST(ShiftSession, EverySplitGivesTheSameReplies) {
  const std::string inputs[] = {
      "^abc$de^abte$fxyz^123" "25$^ab0000$abab",
      "$$^^$^a^b$$^",
      "no message at all",
      "^^^^^^$$$$$$",
  };
  for (const auto& input : inputs) {
    SCOPED_TRACE(input);
    expect_split_invariant(Protocol::shift, default_limits, as_bytes(input));
  }
}

TEST(ShiftSession, EverySplitOfAllByteValues) {
  Bytes input = {'^'};
  for (int b = 0; b < 256; ++b) {
    if (b != '$') input.push_back(static_cast<Byte>(b));
  }
  input.push_back('$');
  expect_split_invariant(Protocol::shift, default_limits, input, 50);
  const auto run = feed_in_chunks(Protocol::shift, default_limits, input, {});
  ASSERT_EQ(run.output.size(), 1u + 255u);
  EXPECT_EQ(run.output.back(), 0x00);  // 0xFF wrapped
}

// --- framed -----------------------------------------------------------------

Bytes frame_of(std::string_view payload) {
  Bytes out;
  append_frame(as_bytes(payload), out);
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

TEST(FramedSession, HasNoGreeting) {
  EXPECT_TRUE(feed_in_chunks(Protocol::framed, default_limits, {}, {}).output.empty());
}

TEST(FramedSession, RepliesWithAFrameOfShiftedBytes) {
  const auto run = feed_in_chunks(Protocol::framed, default_limits, frame_of("abc"), {});
  EXPECT_EQ(run.output, frame_of("bcd"));
  EXPECT_FALSE(run.verdict.close);
}

TEST(FramedSession, ZeroLengthFrameGetsAnEmptyReplyFrame) {
  const auto run = feed_in_chunks(Protocol::framed, default_limits, frame_of(""), {});
  EXPECT_EQ(run.output, (Bytes{0, 0, 0, 0}));
}

TEST(FramedSession, PipelinedFramesAreAnsweredInOrder) {
  const Bytes input = concat({frame_of("a"), frame_of(""), frame_of("xyz"), frame_of("\xff")});
  const auto run = feed_in_chunks(Protocol::framed, default_limits, input, {});
  EXPECT_EQ(run.output, concat({frame_of("b"), frame_of(""), frame_of("yz{"), frame_of(std::string(1, '\0'))}));
}

TEST(FramedSession, FrameOfExactlyTheMaximumIsServed) {
  const SessionLimits limits{16};
  const auto run = feed_in_chunks(Protocol::framed, limits, frame_of(std::string(16, 'a')), {});
  EXPECT_EQ(run.output, frame_of(std::string(16, 'b')));
  EXPECT_FALSE(run.verdict.close);
}

TEST(FramedSession, OversizedFrameClosesAfterEarlierReplies) {
  const SessionLimits limits{16};
  Bytes oversized;
  append_frame_header(17, oversized);
  const Bytes input = concat({frame_of("ok"), oversized, frame_of("never")});
  const auto run = feed_in_chunks(Protocol::framed, limits, input, {});
  EXPECT_EQ(run.output, frame_of("pl"));  // the earlier frame is answered, nothing after
  EXPECT_TRUE(run.verdict.close);
  EXPECT_NE(run.verdict.reason.find("17 bytes"), std::string::npos) << run.verdict.reason;
  EXPECT_NE(run.verdict.reason.find("--max-frame"), std::string::npos) << run.verdict.reason;
}

TEST(FramedSession, OversizedHeaderClosesBeforeItsPayloadArrives) {
  // The limit is checked on the header alone, so a peer cannot make the
  // server buffer a huge frame before it is refused.
  Bytes header;
  append_frame_header(0xFFFFFFFFu, header);
  const auto run = feed_in_chunks(Protocol::framed, default_limits, header, {});
  EXPECT_TRUE(run.verdict.close);
  EXPECT_TRUE(run.output.empty());
}

TEST(FramedSession, EverySplitGivesTheSameReplies) {
  const SessionLimits limits{64};
  Bytes oversized;
  append_frame_header(65, oversized);
  const Bytes inputs[] = {
      concat({frame_of("hello"), frame_of(""), frame_of("^$*"), frame_of(std::string(64, 'z'))}),
      concat({frame_of("a"), oversized, frame_of("b")}),
      concat({frame_of(""), frame_of(""), frame_of("")}),
      Bytes{0, 0, 0},  // a partial header only: no reply, no close
  };
  for (const auto& input : inputs) {
    expect_split_invariant(Protocol::framed, limits, input);
  }
}

// request_pending(): what --request-timeout-ms measures (cs/request_timer.hpp).
bool pending_after(Protocol protocol, ByteView input) {
  return feed_in_chunks(protocol, default_limits, input, {}).pending;
}

TEST(ShiftSession, RequestPendingFromAnyByteUntilAMessageEnds) {
  EXPECT_FALSE(pending_after(Protocol::shift, as_bytes("")));
  EXPECT_TRUE(pending_after(Protocol::shift, as_bytes("x")));  // bytes outside a message count:
  EXPECT_TRUE(pending_after(Protocol::shift, as_bytes("$")));  // a trickle of them is no escape
  EXPECT_TRUE(pending_after(Protocol::shift, as_bytes("^ab")));
  EXPECT_FALSE(pending_after(Protocol::shift, as_bytes("^ab$")));
  EXPECT_FALSE(pending_after(Protocol::shift, as_bytes("noise^ab$")));
  EXPECT_TRUE(pending_after(Protocol::shift, as_bytes("^ab$c")));
  EXPECT_TRUE(pending_after(Protocol::shift, as_bytes("^ab$^")));
}

TEST(FramedSession, RequestPendingWhilePartOfAFrameIsBuffered) {
  const Bytes two = concat({frame_of("ab"), frame_of("cd")});
  EXPECT_FALSE(pending_after(Protocol::framed, {}));
  EXPECT_TRUE(pending_after(Protocol::framed, ByteView(two).first(1)));  // a header byte
  EXPECT_TRUE(pending_after(Protocol::framed, ByteView(two).first(5)));  // header and a body byte
  EXPECT_FALSE(pending_after(Protocol::framed, ByteView(two).first(6)));
  EXPECT_TRUE(pending_after(Protocol::framed, ByteView(two).first(7)));
  EXPECT_FALSE(pending_after(Protocol::framed, two));
}

TEST(FramedSession, CountsFrames) {
  FramedSession session(default_limits);
  Bytes out;
  session.on_receive(concat({frame_of("a"), frame_of("b")}), out);
  EXPECT_EQ(session.requests(), 2u);
}

}  // namespace
}  // namespace cs
