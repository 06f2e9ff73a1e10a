// The per-connection ordering (src/sequencer.hpp) without sockets: events
// offered out of order are delivered in ticket order, one deliverer at a
// time, and an event offered during a delivery waits for it.
#include "sequencer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace {

TEST(Sequencer, OutOfOrderOffersAreDeliveredInTicketOrder) {
  cpf::detail::Sequencer<int> sequencer;
  const auto t0 = sequencer.take_ticket();
  const auto t1 = sequencer.take_ticket();
  const auto t2 = sequencer.take_ticket();

  EXPECT_FALSE(sequencer.offer(t2, 2)) << "ticket 0 is not in yet: nobody may deliver";
  EXPECT_FALSE(sequencer.offer(t1, 1));
  ASSERT_TRUE(sequencer.offer(t0, 0)) << "the offer that completes the prefix delivers";
  std::vector<int> delivered;
  while (auto event = sequencer.next()) delivered.push_back(*event);
  EXPECT_EQ(delivered, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(sequencer.pending(), 0u);
}

TEST(Sequencer, AnOfferDuringADeliveryIsQueuedForTheDeliverer) {
  cpf::detail::Sequencer<int> sequencer;
  ASSERT_TRUE(sequencer.offer(sequencer.take_ticket(), 0));
  auto first = sequencer.next();
  ASSERT_TRUE(first);
  // While "notification 0" runs, it records another event.
  EXPECT_FALSE(sequencer.offer(sequencer.take_ticket(), 1)) << "the running deliverer takes it";
  auto second = sequencer.next();
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, 1);
  EXPECT_FALSE(sequencer.next());
  // Delivery ended; the next offer makes its caller the deliverer again.
  EXPECT_TRUE(sequencer.offer(sequencer.take_ticket(), 2));
}

TEST(Sequencer, ADelivererThatNeverCatchesUpStillDeliversInOrder) {
  // Each "notification" records the next event before the last one is
  // delivered, so one always waits: the queue never drains, and its
  // delivered front is dropped as it goes.
  cpf::detail::Sequencer<int> sequencer;
  ASSERT_TRUE(sequencer.offer(sequencer.take_ticket(), 0));
  std::vector<int> delivered;
  for (int i = 1; i <= 1000; ++i) {
    EXPECT_FALSE(sequencer.offer(sequencer.take_ticket(), i));
    auto event = sequencer.next();
    ASSERT_TRUE(event);
    delivered.push_back(*event);
    EXPECT_EQ(sequencer.pending(), 1u);
  }
  auto last = sequencer.next();
  ASSERT_TRUE(last);
  delivered.push_back(*last);
  EXPECT_FALSE(sequencer.next());
  std::vector<int> expected(1001);
  for (int i = 0; i <= 1000; ++i) expected[i] = i;
  EXPECT_EQ(delivered, expected);
  // Drained: the next offer starts a delivery again.
  EXPECT_TRUE(sequencer.offer(sequencer.take_ticket(), 1001));
}

TEST(Sequencer, ManyThreadsDeliverEveryEventOnceInOrderWithoutOverlap) {
  cpf::detail::Sequencer<int> sequencer;
  std::mutex ticket_lock;  // plays the connection's lock: tickets follow event order
  int next_event = 0;
  std::vector<int> delivered;  // written only by the deliverer of the moment
  std::atomic<int> delivering{0};
  std::atomic<bool> overlapped{false};
  constexpr int per_thread = 3000;

  auto worker = [&] {
    for (int i = 0; i < per_thread; ++i) {
      std::uint64_t ticket = 0;
      int event = 0;
      {
        std::lock_guard lock(ticket_lock);
        ticket = sequencer.take_ticket();
        event = next_event++;
      }
      if (sequencer.offer(ticket, event)) {
        while (auto e = sequencer.next()) {
          if (delivering.fetch_add(1) != 0) overlapped = true;
          delivered.push_back(*e);
          delivering.fetch_sub(1);
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();

  EXPECT_FALSE(overlapped);
  ASSERT_EQ(delivered.size(), 4u * per_thread);
  for (int i = 0; i < 4 * per_thread; ++i) ASSERT_EQ(delivered[i], i);
}

}  // namespace
