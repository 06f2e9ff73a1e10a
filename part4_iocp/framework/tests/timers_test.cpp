// The shared per-connection rules both backends apply, without sockets:
// the output limit that holds reads back (OutputQueue) and the idle clock
// and deadline the sweep checks (ConnectionTimers, sweep_period).
#include <gtest/gtest.h>

#include <chrono>

#include "output_queue.hpp"
#include "timers.hpp"

namespace {

using namespace std::chrono_literals;
using cpf::detail::Clock;
using cpf::detail::ConnectionTimers;
using cpf::detail::Event;
using cpf::detail::OutputQueue;
using cpf::detail::OutputTotals;

cpf::BufferPtr filled(cpf::BufferAllocator& allocator, std::size_t n) {
  cpf::BufferPtr buffer = allocator.allocate();
  buffer->commit(n);
  return buffer;
}

TEST(OutputQueue, ReadsAreHeldBackWhileMoreThanTheLimitIsUnsent) {
  cpf::BufferAllocator allocator(100, 8);
  OutputTotals totals;
  {
    OutputQueue queue(totals, 150);
    queue.push(filled(allocator, 100));
    EXPECT_TRUE(queue.reads_allowed());
    queue.push(filled(allocator, 50));
    EXPECT_TRUE(queue.reads_allowed()) << "at the limit reads go on";
    queue.push(filled(allocator, 100));
    EXPECT_EQ(queue.unsent(), 250u);
    EXPECT_EQ(totals.queued.load(), 250u);
    EXPECT_FALSE(queue.reads_allowed());
    EXPECT_FALSE(queue.reads_allowed());
    EXPECT_EQ(totals.pauses.load(), 1u) << "one pause, however often it is asked";

    EXPECT_FALSE(queue.sent(60)) << "a partial send returns no buffer";
    EXPECT_FALSE(queue.reads_allowed()) << "190 unsent";
    EXPECT_TRUE(queue.sent(40)) << "the first write is complete";
    EXPECT_EQ(queue.unsent(), 150u);
    EXPECT_TRUE(queue.reads_allowed()) << "back at the limit";

    queue.push(filled(allocator, 100));
    EXPECT_FALSE(queue.reads_allowed());
    EXPECT_EQ(totals.pauses.load(), 2u);
    queue.clear();  // an abort
    EXPECT_EQ(queue.unsent(), 0u);
    EXPECT_TRUE(queue.reads_allowed());
    queue.push(filled(allocator, 30));
  }
  EXPECT_EQ(totals.queued.load(), 0u) << "a destroyed queue takes its bytes out of the total";
}

TEST(OutputQueue, ALimitOfZeroNeverHoldsReads) {
  cpf::BufferAllocator allocator(100, 8);
  OutputTotals totals;
  OutputQueue queue(totals, 0);
  for (int i = 0; i < 50; ++i) queue.push(filled(allocator, 100));
  EXPECT_TRUE(queue.reads_allowed());
  EXPECT_EQ(totals.pauses.load(), 0u);
}

TEST(OutputQueue, TheShutdownMarkerAndEmptyWritesCountNothing) {
  cpf::BufferAllocator allocator(100, 8);
  OutputTotals totals;
  OutputQueue queue(totals, 10);
  queue.push(filled(allocator, 0));
  queue.push_shutdown();
  EXPECT_EQ(queue.unsent(), 0u);
  EXPECT_TRUE(queue.pop_front());   // the empty write's buffer
  EXPECT_TRUE(queue.front().shutdown_marker);
  EXPECT_FALSE(queue.pop_front());  // the marker has none
  EXPECT_TRUE(queue.empty());
}

TEST(ConnectionTimers, EveryReadOrWriteRestartsTheIdleClock) {
  const auto start = Clock::now();
  ConnectionTimers timers(start);
  EXPECT_EQ(timers.due(start + 99ms, 100ms), std::nullopt);
  timers.touch(start + 90ms);  // a byte, long before a whole message
  EXPECT_EQ(timers.due(start + 150ms, 100ms), std::nullopt);
  EXPECT_EQ(timers.due(start + 190ms, 100ms), Event::Kind::idle);
  EXPECT_EQ(timers.due(start + 300ms, 100ms), std::nullopt) << "once per idle period";
  timers.touch(start + 310ms);
  EXPECT_EQ(timers.due(start + 410ms, 100ms), Event::Kind::idle) << "activity re-arms it";
  EXPECT_EQ(timers.due(start + 10s, 0ms), std::nullopt) << "no idle timeout";
}

TEST(ConnectionTimers, ADeadlineIsReportedOnceUnlessMovedOrCleared) {
  const auto start = Clock::now();
  ConnectionTimers timers(start);
  timers.set_deadline(start + 50ms);
  EXPECT_EQ(timers.due(start + 49ms, 0ms), std::nullopt);
  EXPECT_EQ(timers.due(start + 50ms, 0ms), Event::Kind::deadline);
  EXPECT_EQ(timers.due(start + 60ms, 0ms), std::nullopt) << "once";
  timers.set_deadline(start + 50ms);  // the same one again: still reported
  EXPECT_EQ(timers.due(start + 70ms, 0ms), std::nullopt);
  EXPECT_TRUE(timers.deadline_passed(start + 70ms));

  timers.set_deadline(start + 100ms);  // moved: a new deadline
  EXPECT_FALSE(timers.deadline_passed(start + 70ms)) << "an event recorded for the old one is dropped";
  EXPECT_EQ(timers.due(start + 100ms, 0ms), Event::Kind::deadline);
  timers.set_deadline(std::nullopt);
  EXPECT_FALSE(timers.deadline_passed(start + 1s));
  EXPECT_EQ(timers.due(start + 1s, 0ms), std::nullopt);
}

TEST(ConnectionTimers, APassedDeadlineGoesBeforeTheIdleTimeout) {
  const auto start = Clock::now();
  ConnectionTimers timers(start);
  timers.set_deadline(start + 10ms);
  EXPECT_EQ(timers.due(start + 1s, 100ms), Event::Kind::deadline);
  EXPECT_EQ(timers.due(start + 1s, 100ms), Event::Kind::idle);
}

TEST(SweepPeriod, AQuarterOfTheShortestTimeoutWithinBounds) {
  cpf::ServerOptions options;
  EXPECT_EQ(cpf::detail::sweep_period(options), 1000ms) << "neither: still once a second";
  options.idle_timeout = 2000ms;
  EXPECT_EQ(cpf::detail::sweep_period(options), 500ms);
  options.shortest_deadline = 200ms;
  EXPECT_EQ(cpf::detail::sweep_period(options), 50ms);
  options.idle_timeout = 0ms;
  EXPECT_EQ(cpf::detail::sweep_period(options), 50ms);
  options.shortest_deadline = 4ms;
  EXPECT_EQ(cpf::detail::sweep_period(options), 5ms);
  options.shortest_deadline = 60s;
  EXPECT_EQ(cpf::detail::sweep_period(options), 1000ms);
}

}  // namespace
