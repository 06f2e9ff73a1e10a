// The closed loop's bookkeeping: a sender may send while fewer than K of its
// messages are on their way, and a message stops being on its way when every
// receiver received it, skipped it or left, or when it is given up.
#include "chat_window.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace {

using loadgen::Clock;
using loadgen::SendWindow;

constexpr std::uint64_t forever = std::numeric_limits<std::uint64_t>::max();

TEST(SendWindow, HoldsAtMostItsCapacity) {
  SendWindow window(2);
  const auto t = Clock::now();
  EXPECT_TRUE(window.can_send());
  EXPECT_EQ(window.send(3, t), 0u);
  EXPECT_EQ(window.send(3, t), 1u);
  EXPECT_FALSE(window.can_send());
  EXPECT_EQ(window.in_flight(), 2u);
  EXPECT_EQ(window.next(), 2u);
  EXPECT_EQ(window.oldest(), 0u);
}

TEST(SendWindow, AMessageSettlesWhenEveryReceiverHasIt) {
  SendWindow window(1);
  window.send(3, Clock::now());
  window.settle(0, 1);
  window.settle(0, 1);
  EXPECT_FALSE(window.can_send());  // one receiver still to come
  window.settle(0, 1);
  EXPECT_TRUE(window.can_send());
  EXPECT_EQ(window.oldest(), 1u);
  EXPECT_EQ(window.in_flight(), 0u);
}

TEST(SendWindow, ASkippedMessageIsSettledForThatReceiver) {
  // Two receivers; the first gets message 1 without 0 (the server lost 0
  // for it): it reports [0, 2), which settles its share of both.
  SendWindow window(2);
  const auto t = Clock::now();
  window.send(2, t);
  window.send(2, t);
  window.settle(0, 2);
  EXPECT_EQ(window.oldest(), 0u);
  window.settle(0, 1);
  EXPECT_EQ(window.oldest(), 1u);
  window.settle(1, 2);
  EXPECT_EQ(window.oldest(), 2u);
  EXPECT_EQ(window.in_flight(), 0u);
}

TEST(SendWindow, AReceiverThatLeavesSettlesEverythingItStillExpected) {
  SendWindow window(3);
  const auto t = Clock::now();
  for (int i = 0; i < 3; ++i) window.send(2, t);
  window.settle(0, 1);   // receiver A got message 0
  window.settle(0, 3);   // receiver B got all three
  window.settle(1, forever);  // A leaves: 1 and 2 no longer wait for it
  EXPECT_EQ(window.in_flight(), 0u);
  EXPECT_EQ(window.next(), 3u);
}

TEST(SendWindow, SettlingIgnoresMessagesNotOnTheirWay) {
  SendWindow window(2);
  const auto t = Clock::now();
  window.send(1, t);
  window.settle(5, 9);  // not sent yet: nothing to count
  EXPECT_EQ(window.in_flight(), 1u);
  window.settle(0, 1);
  window.settle(0, 1);  // settled already: must not reach into the next message
  window.send(2, t);
  window.settle(0, 1);
  EXPECT_EQ(window.in_flight(), 1u);
}

TEST(SendWindow, MessagesSettleInTheOrderSent) {
  // Message 1 reaches everyone before message 0 has: the window still
  // counts both until 0 settles, since the sender's oldest is still out.
  SendWindow window(2);
  const auto t = Clock::now();
  window.send(1, t);
  window.send(1, t);
  window.settle(1, 2);
  EXPECT_EQ(window.oldest(), 0u);
  EXPECT_FALSE(window.can_send());
  window.settle(0, 1);
  EXPECT_EQ(window.oldest(), 2u);
}

TEST(SendWindow, GivingUpCountsTheDeliveriesStillExpected) {
  SendWindow window(3);
  const auto t0 = Clock::now();
  const auto t1 = t0 + std::chrono::milliseconds(10);
  const auto t2 = t0 + std::chrono::milliseconds(20);
  window.send(4, t0);
  window.send(4, t1);
  window.send(4, t2);
  window.settle(0, 2);  // one receiver has 0 and 1
  EXPECT_EQ(window.give_up_before(t0), 0u);  // nothing sent before t0
  EXPECT_EQ(window.give_up_before(t2), 6u);  // 0 and 1, three receivers each still expected
  EXPECT_EQ(window.oldest(), 2u);
  EXPECT_EQ(window.in_flight(), 1u);
  // A late delivery of a message given up changes nothing.
  window.settle(0, 1);
  EXPECT_EQ(window.in_flight(), 1u);
  EXPECT_EQ(window.send(4, t2), 3u);
}

TEST(SendWindow, AMessageNobodyExpectsIsSettledAtOnce) {
  SendWindow window(1);
  window.send(0, Clock::now());
  EXPECT_TRUE(window.can_send());
}

TEST(SendWindow, NeedsRoomForOneMessage) {
  EXPECT_THROW(SendWindow(0), std::invalid_argument);
}

}  // namespace
