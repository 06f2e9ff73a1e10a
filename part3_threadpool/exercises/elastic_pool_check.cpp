// The check of exercise part3-1 (ElasticPool, contract in elastic_pool.hpp):
// it starts with min_workers, grows by one worker per submit() that finds
// every worker busy, never beyond max_workers, retires idle workers down to
// min_workers, and runs every task while workers come and go. Built twice,
// against the starting point and against solutions/; ctest requires the
// first to fail and the second to pass.
//
// Tasks hold their worker on a Gate the test opens, and tests wait for
// events (tasks starting) with a deadline, so a pool that does not grow
// fails an assertion instead of hanging. Only retirement is polled: a worker
// retiring after an idle period is the absence of work, not an event.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <elastic_pool.hpp>

#include "../tests/sync_testing.hpp"

namespace exercises {
namespace {

using namespace std::chrono_literals;
using part3::testing::Countdown;
using part3::testing::eventually;
using part3::testing::Gate;
using part3::testing::OpenOnExit;

// How long to wait for a worker that should start at once. Short, so that the
// starting point fails its check quickly; a thread starts in microseconds.
constexpr std::chrono::milliseconds quickly = 3s;
// An idle timeout that never expires during a test, where retiring would
// blur what is measured.
constexpr std::chrono::milliseconds never = 1h;

ElasticPoolLimits limits(std::size_t min, std::size_t max, std::chrono::milliseconds idle = never,
                         std::size_t queue = 16) {
  return {min, max, queue, idle};
}

// Submits a task that reports it started, then holds its worker until `release` opens.
void submit_holding(ElasticPool& pool, Countdown& started, Gate& release) {
  ASSERT_TRUE(pool.submit([&started, &release] {
    started.arrive();
    release.hold();
  }));
}

TEST(ElasticPool, RejectsImpossibleLimits) {
  EXPECT_THROW(ElasticPool(limits(0, 1)), std::invalid_argument);
  EXPECT_THROW(ElasticPool(limits(3, 2)), std::invalid_argument);
  EXPECT_THROW(ElasticPool(limits(1, 2, never, 0)), std::invalid_argument);
}

TEST(ElasticPool, StartsWithMinWorkers) {
  ElasticPool pool(limits(2, 5));
  EXPECT_EQ(pool.worker_count(), 2u);
}

// In every test, the events tasks signal are declared before the pool, so
// they outlive it: the pool's destructor waits for the tasks that use them.

TEST(ElasticPool, AddsAWorkerWhenEveryWorkerIsBusy) {
  Gate release;
  Countdown first(1);
  Countdown second(1);
  ElasticPool pool(limits(1, 3));
  OpenOnExit release_on_exit(release);

  submit_holding(pool, first, release);
  ASSERT_TRUE(first.wait_for(quickly));
  EXPECT_EQ(pool.worker_count(), 1u) << "one task, one idle worker: no reason to grow";

  // The only worker is busy: this submit() must add one, and the task must
  // run now, beside the first, not after it.
  submit_holding(pool, second, release);
  EXPECT_EQ(pool.worker_count(), 2u) << "submit() found every worker busy and did not grow";
  EXPECT_TRUE(second.wait_for(quickly)) << "the second task waited although the pool could grow";
}

TEST(ElasticPool, DoesNotGrowWhileAWorkerIsIdle) {
  Gate release;
  Countdown first(1);
  Countdown second(1);
  ElasticPool pool(limits(2, 4));
  OpenOnExit release_on_exit(release);
  submit_holding(pool, first, release);
  ASSERT_TRUE(first.wait_for(quickly));
  submit_holding(pool, second, release);  // the second worker is idle: it takes it
  ASSERT_TRUE(second.wait_for(quickly));
  EXPECT_EQ(pool.worker_count(), 2u);
}

TEST(ElasticPool, NeverExceedsMaxWorkers) {
  Gate release;
  std::atomic<int> ran{0};
  Countdown both(2);
  ElasticPool pool(limits(1, 2));
  OpenOnExit release_on_exit(release);

  submit_holding(pool, both, release);
  submit_holding(pool, both, release);
  ASSERT_TRUE(both.wait_for(quickly)) << "two tasks should run at once (max_workers = 2)";
  ASSERT_TRUE(pool.submit([&ran] { ++ran; }));  // must queue: the pool is at its maximum
  EXPECT_EQ(pool.worker_count(), 2u);
  EXPECT_EQ(pool.peak_workers(), 2u);
  release.open();
  pool.shutdown();
  EXPECT_EQ(ran.load(), 1);
}

TEST(ElasticPool, RetiresIdleWorkersDownToMinAndKeepsWorking) {
  Gate release;
  Gate release_again;
  Countdown three(3);
  Countdown two(2);
  ElasticPool pool(limits(1, 3, 50ms));
  OpenOnExit release_on_exit(release);
  OpenOnExit release_again_on_exit(release_again);

  for (int i = 0; i < 3; ++i) submit_holding(pool, three, release);
  ASSERT_TRUE(three.wait_for(quickly)) << "the pool did not grow to three workers";
  EXPECT_EQ(pool.worker_count(), 3u);

  release.open();  // all three go idle; two of them should retire after 50 ms
  EXPECT_TRUE(eventually([&] { return pool.worker_count() == 1; }, quickly))
      << pool.worker_count() << " workers alive long after they went idle (min_workers = 1)";
  EXPECT_EQ(pool.peak_workers(), 3u);

  // The one that stays still serves, and the pool can grow again.
  submit_holding(pool, two, release_again);
  submit_holding(pool, two, release_again);
  EXPECT_TRUE(two.wait_for(quickly)) << "after shrinking, the pool no longer runs or grows";
}

TEST(ElasticPool, ShutdownRunsEveryQueuedTaskAndJoinsEveryWorker) {
  std::atomic<int> ran{0};
  ElasticPool pool(limits(1, 4, 1ms));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.submit([&ran] { ++ran; }));
  pool.shutdown();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(pool.worker_count(), 0u);
  EXPECT_FALSE(pool.submit([] {}));
  pool.shutdown();  // a second call is harmless
}

// Workers that retire after 1 ms idle and are re-created on the next burst:
// every task must still run exactly once, and no more than max_workers tasks
// may ever run at once.
TEST(ElasticPool, RunsEveryTaskWhileWorkersComeAndGo) {
  constexpr int producers = 4;
  constexpr int tasks_each = 300;
  constexpr std::size_t max_workers = 4;
  std::atomic<int> ran{0};
  std::atomic<int> running{0};
  std::atomic<int> most_running{0};
  {
    ElasticPool pool(limits(1, max_workers, 1ms, 2));
    std::vector<std::jthread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; i < tasks_each; ++i) {
          pool.submit([&] {
            const int now = ++running;
            int seen = most_running.load();
            while (now > seen && !most_running.compare_exchange_weak(seen, now)) {
            }
            ++ran;
            --running;
          });
          // Now and then a pause longer than the idle timeout, so that
          // workers retire between bursts and are started again.
          if (i % 50 == 49 + p) std::this_thread::sleep_for(3ms);
        }
      });
    }
    threads.clear();  // joins the producers
    pool.shutdown();
    EXPECT_LE(pool.peak_workers(), max_workers);
  }
  EXPECT_EQ(ran.load(), producers * tasks_each);
  EXPECT_LE(most_running.load(), static_cast<int>(max_workers));
}

}  // namespace
}  // namespace exercises
