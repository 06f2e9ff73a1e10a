// RequestTimer: when a request's deadline starts, moves on and ends, driven
// by a real ShiftSession and FramedSession and a clock the test sets.
#include <gtest/gtest.h>

#include "cs/frame_codec.hpp"
#include "cs/framed_session.hpp"
#include "cs/request_timer.hpp"
#include "cs/shift_session.hpp"

namespace cs {
namespace {

using namespace std::chrono_literals;
using Clock = RequestTimer::Clock;

struct Driven {
  ShiftSession session;
  RequestTimer timer{100ms};
  Bytes out;

  void receive(std::string_view chunk, Clock::time_point at) {
    session.on_receive(as_bytes(chunk), out);
    timer.after_receive(session, at);
  }
};

const Clock::time_point t0{};

TEST(RequestTimer, NoDeadlineBeforeTheFirstByte) {
  Driven d;
  EXPECT_FALSE(d.timer.deadline());
  EXPECT_FALSE(d.timer.expired(t0 + 1h));
}

TEST(RequestTimer, DeadlineCountsFromTheFirstByteNotTheLast) {
  Driven d;
  d.receive("^a", t0);
  d.receive("b", t0 + 60ms);  // a trickle does not move the deadline
  d.receive("c", t0 + 90ms);
  ASSERT_TRUE(d.timer.deadline());
  EXPECT_EQ(*d.timer.deadline(), t0 + 100ms);
  EXPECT_FALSE(d.timer.expired(t0 + 99ms));
  EXPECT_TRUE(d.timer.expired(t0 + 100ms));
}

TEST(RequestTimer, CompletedRequestClearsTheDeadline) {
  Driven d;
  d.receive("^ab", t0);
  d.receive("$", t0 + 50ms);
  EXPECT_FALSE(d.timer.deadline());
}

TEST(RequestTimer, NextRequestInTheSameChunkStartsAFreshDeadline) {
  Driven d;
  d.receive("^ab", t0);
  d.receive("$^c", t0 + 80ms);  // one request ends, the next begins
  ASSERT_TRUE(d.timer.deadline());
  EXPECT_EQ(*d.timer.deadline(), t0 + 180ms);
}

TEST(RequestTimer, BytesOutsideAMessageStartTheClockToo) {
  Driven d;
  d.receive("z", t0);  // a client may not trickle noise forever either
  d.receive("z", t0 + 50ms);
  ASSERT_TRUE(d.timer.deadline());
  EXPECT_EQ(*d.timer.deadline(), t0 + 100ms);
}

TEST(RequestTimer, ZeroLimitNeverSetsADeadline) {
  ShiftSession session;
  RequestTimer timer(0ms);
  Bytes out;
  session.on_receive(as_bytes("^abc"), out);
  timer.after_receive(session, t0);
  EXPECT_FALSE(timer.deadline());
}

TEST(RequestTimer, FramedPartialHeaderStartsItAndAWholeFrameEndsIt) {
  FramedSession session(SessionLimits{});
  RequestTimer timer(100ms);
  Bytes frame;
  append_frame(as_bytes("hi"), frame);
  Bytes out;
  session.on_receive(ByteView(frame).first(2), out);
  timer.after_receive(session, t0);
  ASSERT_TRUE(timer.deadline());
  session.on_receive(ByteView(frame).subspan(2), out);
  timer.after_receive(session, t0 + 10ms);
  EXPECT_FALSE(timer.deadline());
}

}  // namespace
}  // namespace cs
