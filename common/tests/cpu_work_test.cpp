// --work-us: spend_cpu() spends at least what it is asked for, on the
// thread's own CPU clock, and the sessions spend it once per request without
// changing a reply byte. Lower bounds only: how much more a busy machine
// takes is not this code's to promise.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "cs/cpu_work.hpp"
#include "cs/frame_codec.hpp"
#include "cs/session.hpp"

namespace cs {
namespace {

using namespace std::chrono_literals;

TEST(SpendCpu, SpendsAtLeastTheRequestedThreadCpuTime) {
  const auto before = thread_cpu_time();
  spend_cpu(20ms);
  EXPECT_GE(thread_cpu_time() - before, 20ms);
}

TEST(SpendCpu, ZeroAndNegativeReturnAtOnce) {
  // Nothing to measure but that they return: the default (0) must cost
  // nothing, and a negative duration must not loop until it wraps.
  spend_cpu(0us);
  spend_cpu(-5us);
}

TEST(SpendCpu, ThreadCpuTimeDoesNotCountSleep) {
  // What makes the clock a CPU clock rather than the wall clock. Skipped
  // where the thread's CPU clock is unavailable and the documented
  // steady_clock fallback is in use.
  const auto cpu_before = thread_cpu_time();
  const auto wall_before = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(50ms);
  const auto cpu = thread_cpu_time() - cpu_before;
  const auto wall = std::chrono::steady_clock::now() - wall_before;
  ASSERT_GE(wall, 50ms);
  EXPECT_LT(cpu, wall / 2) << "a sleeping thread's CPU clock advanced like the wall clock";
}

Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

Bytes reply(Protocol protocol, const SessionLimits& limits, const Bytes& input) {
  const auto session = make_session(protocol, limits);
  Bytes out;
  session->greet(out);
  session->on_receive(input, out);
  return out;
}

TEST(SessionWork, ShiftSpendsItPerMessageAndRepliesTheSame) {
  const Bytes input = bytes_of("^ab$ x ^cd$^$");  // three messages, one chunk
  const SessionLimits no_work{};
  SessionLimits work{};
  work.work = 5ms;
  const auto before = thread_cpu_time();
  const Bytes with_work = reply(Protocol::shift, work, input);
  EXPECT_GE(thread_cpu_time() - before, 15ms);
  EXPECT_EQ(with_work, reply(Protocol::shift, no_work, input));
}

TEST(SessionWork, ShiftSpendsNothingOnAnUnfinishedMessage) {
  // The work belongs to the '$' that completes a message, so a message
  // split over many chunks costs it once, at its end. The bound is half the
  // work asked for, far above what four bytes cost, so it cannot flake.
  SessionLimits limits{};
  limits.work = 1s;
  const auto session = make_session(Protocol::shift, limits);
  Bytes out;
  const auto before = thread_cpu_time();
  session->on_receive(bytes_of("^abc"), out);
  EXPECT_LT(thread_cpu_time() - before, 500ms);
  EXPECT_EQ(out, bytes_of("bcd"));
}

TEST(SessionWork, FramedSpendsItPerFrameAndRepliesTheSame) {
  Bytes input;
  for (const char* payload : {"abc", "", "xyz"}) {
    append_frame_header(static_cast<std::uint32_t>(std::string_view(payload).size()), input);
    input.insert(input.end(), payload, payload + std::string_view(payload).size());
  }
  const SessionLimits no_work{};
  SessionLimits work{};
  work.work = 5ms;
  const auto before = thread_cpu_time();
  const Bytes with_work = reply(Protocol::framed, work, input);
  EXPECT_GE(thread_cpu_time() - before, 15ms);
  EXPECT_EQ(with_work, reply(Protocol::framed, no_work, input));
}

}  // namespace
}  // namespace cs
