// Unit tests of the thread pool (thread_pool.hpp): a fixed number of
// workers, FIFO order, backpressure (submit blocks while the queue is full
// and resumes when a slot frees), giving up on a stop, drain and cancel,
// surviving a throwing task, and no lost wakeups under stress.
//
// Ordering is proved with events (Gate, Countdown: tests/sync_testing.hpp),
// never with sleeps. The one thing polled is "a producer is blocked in
// submit()", because being blocked is the absence of an event.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "sync_testing.hpp"
#include "thread_pool.hpp"

namespace part3 {
namespace {

using testing::Countdown;
using testing::eventually;
using testing::Gate;
using testing::OpenOnExit;

// A task that waits for `release`, after telling `started` it runs.
std::function<void()> blocking_task(Countdown& started, Gate& release) {
  return [&started, &release] {
    started.arrive();
    release.hold();
  };
}

// Thread ids seen by tasks. Thread-safe.
class ThreadIds {
 public:
  void record() {
    std::lock_guard lock(mutex_);
    ids_.insert(std::this_thread::get_id());
  }
  std::size_t distinct() const {
    std::lock_guard lock(mutex_);
    return ids_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::thread::id> ids_;  // guarded by mutex_
};

// Closes the pool when it goes out of scope. Declared after a producer
// thread, it is destroyed first: if an assertion fails while that producer
// is still blocked in submit(), the close wakes it, so joining it cannot hang.
class CloseOnExit {
 public:
  explicit CloseOnExit(ThreadPool& pool) : pool_(pool) {}
  CloseOnExit(const CloseOnExit&) = delete;
  CloseOnExit& operator=(const CloseOnExit&) = delete;
  ~CloseOnExit() { pool_.close(ShutdownMode::drain); }

 private:
  ThreadPool& pool_;
};

// --- construction ---------------------------------------------------------------

TEST(ThreadPool, RejectsZeroWorkersOrZeroCapacity) {
  EXPECT_THROW(ThreadPool(0, 1), std::invalid_argument);
  EXPECT_THROW(ThreadPool(1, 0), std::invalid_argument);
}

TEST(ThreadPool, RunsExactlyTheRequestedNumberOfWorkers) {
  constexpr std::size_t workers = 3;
  Countdown all_started(workers);
  Gate release;
  ThreadIds ids;
  ThreadPool pool(workers, 64);
  OpenOnExit release_on_exit(release);
  EXPECT_EQ(pool.worker_count(), workers);

  // At least `workers` run at once: each of these tasks waits for the gate,
  // and all of them start before it opens.
  for (std::size_t i = 0; i < workers; ++i) {
    ASSERT_EQ(pool.submit([&] {
      ids.record();
      all_started.arrive();
      release.hold();
    }), SubmitResult::accepted);
  }
  ASSERT_TRUE(all_started.wait_for()) << all_started.remaining() << " workers never started";
  EXPECT_EQ(pool.running(), workers);

  // ...and no more than `workers` threads ever run tasks: these 50, queued
  // while every worker is busy, run on the same threads afterwards.
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(pool.submit([&] { ids.record(); }), SubmitResult::accepted);
  }
  release.open();
  pool.join();
  EXPECT_EQ(ids.distinct(), workers);
  EXPECT_EQ(pool.tasks_completed(), workers + 50);
}

// --- order ----------------------------------------------------------------------

TEST(ThreadPool, OneWorkerRunsTasksInSubmissionOrder) {
  Countdown first_started(1);
  Gate release;
  std::vector<int> order;  // written by the one worker, read after join()
  ThreadPool pool(1, 100);
  OpenOnExit release_on_exit(release);

  // Hold the worker so that every task below is queued before any runs: the
  // order then comes from the queue, not from the timing of submit().
  ASSERT_EQ(pool.submit(blocking_task(first_started, release)), SubmitResult::accepted);
  ASSERT_TRUE(first_started.wait_for());
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(pool.submit([&order, i] { order.push_back(i); }), SubmitResult::accepted);
  }
  EXPECT_EQ(pool.queued(), 100u);
  release.open();
  pool.join();

  std::vector<int> expected(100);
  for (int i = 0; i < 100; ++i) expected[i] = i;
  EXPECT_EQ(order, expected);
}

// --- backpressure -----------------------------------------------------------------

// One worker held by task A, one queue slot filled by task B: the pool is full.
struct FullPool {
  Countdown a_started{1};
  Gate release_a;
  std::vector<char> ran;  // written by the one worker, read after join()
  ThreadPool pool{1, 1};

  void fill() {
    ASSERT_EQ(pool.submit([this] {
      a_started.arrive();
      release_a.hold();
      ran.push_back('A');
    }), SubmitResult::accepted);
    ASSERT_TRUE(a_started.wait_for());
    ASSERT_EQ(pool.submit([this] { ran.push_back('B'); }), SubmitResult::accepted);
    ASSERT_EQ(pool.queued(), 1u);
  }
};

TEST(ThreadPool, TrySubmitRefusesWhenFullAndLeavesTheTaskWithTheCaller) {
  FullPool full;
  OpenOnExit release_on_exit(full.release_a);
  full.fill();
  std::function<void()> late = [&full] { full.ran.push_back('L'); };
  EXPECT_EQ(full.pool.try_submit(std::move(late)), SubmitResult::full);
  EXPECT_TRUE(late) << "a refused task must not be moved from";
  full.release_a.open();
  full.pool.join();
  EXPECT_EQ(std::string(full.ran.begin(), full.ran.end()), "AB");
}

TEST(ThreadPool, SubmitBlocksWhileTheQueueIsFullAndResumesWhenASlotFrees) {
  FullPool full;
  OpenOnExit release_on_exit(full.release_a);
  full.fill();

  Gate c_returned;
  std::atomic<SubmitResult> c_result{SubmitResult::full};
  std::jthread producer([&] {
    c_result = full.pool.submit([&full] { full.ran.push_back('C'); });
    c_returned.open();
  });
  CloseOnExit close_on_exit(full.pool);

  // The producer is blocked inside submit() (polled: blocking is the absence
  // of an event)...
  ASSERT_TRUE(eventually([&] { return full.pool.waiting_producers() == 1; }));
  // ...and, since nothing has freed a slot, it cannot have returned.
  EXPECT_FALSE(c_returned.is_open());
  EXPECT_EQ(full.pool.queued(), 1u);

  // Releasing A lets the worker take B, which frees the slot C waits for.
  full.release_a.open();
  ASSERT_TRUE(c_returned.wait_for()) << "submit() did not resume when a slot freed";
  EXPECT_EQ(c_result.load(), SubmitResult::accepted);
  full.pool.join();
  EXPECT_EQ(std::string(full.ran.begin(), full.ran.end()), "ABC");
  EXPECT_EQ(full.pool.waiting_producers(), 0u);
}

TEST(ThreadPool, SubmitGivesUpWhenItsStopIsRequestedAndKeepsTheTask) {
  FullPool full;
  OpenOnExit release_on_exit(full.release_a);
  full.fill();

  std::stop_source stop;
  Gate c_returned;
  std::atomic<SubmitResult> c_result{SubmitResult::accepted};
  std::function<void()> c = [&full] { full.ran.push_back('C'); };
  std::jthread producer([&] {
    c_result = full.pool.submit(std::move(c), stop.get_token());
    c_returned.open();
  });
  CloseOnExit close_on_exit(full.pool);
  ASSERT_TRUE(eventually([&] { return full.pool.waiting_producers() == 1; }));
  EXPECT_FALSE(c_returned.is_open());

  stop.request_stop();  // the queue is still full: only the stop can end the wait
  ASSERT_TRUE(c_returned.wait_for()) << "submit() did not give up on its stop";
  EXPECT_EQ(c_result.load(), SubmitResult::stop_requested);
  producer.join();
  EXPECT_TRUE(c) << "a refused task must not be moved from";

  full.release_a.open();
  full.pool.join();
  EXPECT_EQ(std::string(full.ran.begin(), full.ran.end()), "AB");  // C never ran
}

TEST(ThreadPool, AStopAlreadyRequestedRefusesEvenWithRoom) {
  ThreadPool pool(1, 4);
  std::stop_source stop;
  stop.request_stop();
  bool ran = false;
  std::function<void()> task = [&ran] { ran = true; };
  EXPECT_EQ(pool.submit(std::move(task), stop.get_token()), SubmitResult::stop_requested);
  EXPECT_FALSE(pool.wait_for_room(stop.get_token()));
  pool.join();
  EXPECT_FALSE(ran);
}

TEST(ThreadPool, CloseWakesABlockedProducer) {
  FullPool full;
  OpenOnExit release_on_exit(full.release_a);
  full.fill();

  Gate returned;
  std::atomic<SubmitResult> result{SubmitResult::accepted};
  std::jthread producer([&] {
    result = full.pool.submit([] {});
    returned.open();
  });
  CloseOnExit close_on_exit(full.pool);
  ASSERT_TRUE(eventually([&] { return full.pool.waiting_producers() == 1; }));
  full.pool.close(ShutdownMode::drain);
  ASSERT_TRUE(returned.wait_for()) << "close() did not wake the blocked producer";
  EXPECT_EQ(result.load(), SubmitResult::closed);
}

TEST(ThreadPool, WaitForRoomWaitsForASlotWithoutTakingIt) {
  FullPool full;
  OpenOnExit release_on_exit(full.release_a);
  full.fill();

  Gate returned;
  std::atomic<bool> room{false};
  std::jthread producer([&] {
    room = full.pool.wait_for_room();
    returned.open();
  });
  CloseOnExit close_on_exit(full.pool);
  ASSERT_TRUE(eventually([&] { return full.pool.waiting_producers() == 1; }));
  EXPECT_FALSE(returned.is_open());
  full.release_a.open();
  ASSERT_TRUE(returned.wait_for());
  EXPECT_TRUE(room.load());
  // The slot is still free for a submit that does not wait.
  EXPECT_EQ(full.pool.try_submit([&full] { full.ran.push_back('C'); }), SubmitResult::accepted);
  full.pool.join();
  EXPECT_EQ(std::string(full.ran.begin(), full.ran.end()), "ABC");
}

TEST(ThreadPool, WaitForRoomGivesUpOnStop) {
  FullPool full;
  OpenOnExit release_on_exit(full.release_a);
  full.fill();
  std::stop_source stop;
  Gate returned;
  std::atomic<bool> room{true};
  std::jthread producer([&] {
    room = full.pool.wait_for_room(stop.get_token());
    returned.open();
  });
  CloseOnExit close_on_exit(full.pool);
  ASSERT_TRUE(eventually([&] { return full.pool.waiting_producers() == 1; }));
  stop.request_stop();
  ASSERT_TRUE(returned.wait_for());
  EXPECT_FALSE(room.load());
}

// A producer that only waits for room, and then does not submit (the
// server's acceptor waiting for a client), must not swallow the wakeup of a
// producer blocked in submit(): a worker wakes one producer per freed slot.
// The room-watcher waits first, so the wakeup usually goes to it; the
// submit() must still return.
TEST(ThreadPool, WaitForRoomPassesOnAWakeupItDoesNotUse) {
  FullPool full;
  OpenOnExit release_on_exit(full.release_a);
  full.fill();

  Gate watcher_returned;
  std::jthread watcher([&] {
    full.pool.wait_for_room();
    watcher_returned.open();
  });
  ASSERT_TRUE(eventually([&] { return full.pool.waiting_producers() == 1; }));
  Gate submitter_returned;
  std::atomic<SubmitResult> result{SubmitResult::full};
  std::jthread submitter([&] {
    result = full.pool.submit([&full] { full.ran.push_back('C'); });
    submitter_returned.open();
  });
  CloseOnExit close_on_exit(full.pool);
  ASSERT_TRUE(eventually([&] { return full.pool.waiting_producers() == 2; }));

  full.release_a.open();  // the worker takes B: exactly one slot frees
  ASSERT_TRUE(watcher_returned.wait_for());
  ASSERT_TRUE(submitter_returned.wait_for()) << "the submitter slept beside a free slot";
  EXPECT_EQ(result.load(), SubmitResult::accepted);
  full.pool.join();
  EXPECT_EQ(std::string(full.ran.begin(), full.ran.end()), "ABC");
}

// --- shutdown -------------------------------------------------------------------

TEST(ThreadPool, DrainRunsEveryQueuedTaskAndRefusesNewOnes) {
  Countdown started(1);
  Gate release;
  std::atomic<int> ran{0};
  ThreadPool pool(1, 10);
  OpenOnExit release_on_exit(release);
  ASSERT_EQ(pool.submit(blocking_task(started, release)), SubmitResult::accepted);
  ASSERT_TRUE(started.wait_for());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(pool.submit([&ran] { ++ran; }), SubmitResult::accepted);

  EXPECT_TRUE(pool.close(ShutdownMode::drain).empty());
  EXPECT_EQ(pool.submit([&ran] { ran += 100; }), SubmitResult::closed);
  EXPECT_EQ(pool.try_submit([&ran] { ran += 100; }), SubmitResult::closed);
  release.open();
  pool.join();
  EXPECT_EQ(ran.load(), 10);
  EXPECT_EQ(pool.tasks_completed(), 11u);
}

// A task for the shutdown tests: it has a number, runs `body`, and calls
// `on_dropped` if it is destroyed without having run (what happens to a
// cancelled task nobody hands on). Move-only, like the server's task.
struct TrackedTask {
  int number;
  std::function<void()> body;
  std::function<void(int)> on_dropped;
  bool ran = false;

  TrackedTask(int n, std::function<void()> run, std::function<void(int)> dropped = {})
      : number(n), body(std::move(run)), on_dropped(std::move(dropped)) {}
  TrackedTask(TrackedTask&& other) noexcept
      : number(other.number), body(std::move(other.body)),
        on_dropped(std::exchange(other.on_dropped, nullptr)), ran(other.ran) {}
  TrackedTask& operator=(TrackedTask&&) = delete;
  ~TrackedTask() {
    if (!ran && on_dropped) on_dropped(number);
  }
  void operator()() {
    ran = true;
    body();
  }
};

TEST(ThreadPool, CancelHandsBackTheQueuedTasksUnrunAndTheRunningOneFinishes) {
  Countdown a_started(1);
  Gate release_a;
  std::atomic<bool> a_finished{false};
  std::vector<int> ran;  // written by the one worker, read after join()
  BasicThreadPool<TrackedTask> pool(1, 10);
  OpenOnExit release_on_exit(release_a);

  ASSERT_EQ(pool.submit(TrackedTask(0, [&] {
    a_started.arrive();
    release_a.hold();
    ran.push_back(0);
    a_finished = true;
  })), SubmitResult::accepted);
  ASSERT_TRUE(a_started.wait_for());
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(pool.submit(TrackedTask(i, [&ran, i] { ran.push_back(i); })), SubmitResult::accepted);
  }

  std::vector<TrackedTask> cancelled = pool.close(ShutdownMode::cancel);
  ASSERT_EQ(cancelled.size(), 5u);
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(cancelled[i - 1].number, i) << "cancelled tasks come back in queue order";
    EXPECT_FALSE(cancelled[i - 1].ran);
  }
  EXPECT_EQ(pool.queued(), 0u);
  EXPECT_EQ(pool.submit(TrackedTask(9, [] {})), SubmitResult::closed);

  release_a.open();
  pool.join();
  EXPECT_TRUE(a_finished.load()) << "the running task must finish";
  EXPECT_EQ(ran, std::vector<int>{0}) << "no cancelled task may run";
}

TEST(ThreadPool, DestructorCancelsWhatIsQueuedAndJoinsTheRunningTask) {
  Countdown a_started(1);
  Gate release_a;
  std::atomic<bool> a_finished{false};
  std::vector<int> dropped;  // written by the destructor, on this thread
  {
    BasicThreadPool<TrackedTask> pool(1, 4);
    ASSERT_EQ(pool.submit(TrackedTask(0, [&] {
      a_started.arrive();
      release_a.hold();
      a_finished = true;
    })), SubmitResult::accepted);
    ASSERT_TRUE(a_started.wait_for());
    // B is only ever dropped, never run, by a destructor that cancels; and
    // dropping it is what releases A. A destructor that drained instead
    // would keep B queued behind A, and A would wait out its patience.
    ASSERT_EQ(pool.submit(TrackedTask(1, [] {}, [&](int number) {
      dropped.push_back(number);
      release_a.open();
    })), SubmitResult::accepted);
  }
  EXPECT_EQ(dropped, std::vector<int>{1});
  EXPECT_TRUE(a_finished.load());
}

TEST(ThreadPool, DestructorAfterCloseDrainLetsTheDrainFinish) {
  Countdown a_started(1);
  Gate release;
  std::atomic<int> ran{0};
  {
    ThreadPool pool(1, 4);
    OpenOnExit release_on_exit(release);  // destroyed first: A is released, then the pool joins
    ASSERT_EQ(pool.submit(blocking_task(a_started, release)), SubmitResult::accepted);
    ASSERT_TRUE(a_started.wait_for());
    for (int i = 0; i < 3; ++i) ASSERT_EQ(pool.submit([&ran] { ++ran; }), SubmitResult::accepted);
    pool.close(ShutdownMode::drain);
  }
  EXPECT_EQ(ran.load(), 3);
}

TEST(ThreadPool, JoinWithoutCloseDrains) {
  std::atomic<int> ran{0};
  ThreadPool pool(2, 8);
  for (int i = 0; i < 8; ++i) ASSERT_EQ(pool.submit([&ran] { ++ran; }), SubmitResult::accepted);
  pool.join();
  EXPECT_EQ(ran.load(), 8);
}

// --- failures ----------------------------------------------------------------------

TEST(ThreadPool, ATaskThatThrowsDoesNotKillItsWorker) {
  constexpr std::size_t workers = 2;
  ThreadIds ids;
  Countdown both_in_throwing(workers);
  Countdown both_in_again(workers);
  std::atomic<int> met{0};
  ThreadPool pool(workers, 8);  // after what its tasks use: destroyed (joined) first

  // Both workers throw: each takes one of these, because neither can finish
  // until both have started.
  ASSERT_EQ(pool.submit([&] {
    ids.record();
    both_in_throwing.arrive();
    both_in_throwing.wait_for();
    throw std::runtime_error("thrown on purpose by the test");
  }), SubmitResult::accepted);
  ASSERT_EQ(pool.submit([&] {
    ids.record();
    both_in_throwing.arrive();
    both_in_throwing.wait_for();
    throw 42;  // not a std::exception
  }), SubmitResult::accepted);
  ASSERT_TRUE(both_in_throwing.wait_for());

  // Afterwards, two tasks still run at once, on the same two threads.
  for (std::size_t i = 0; i < workers; ++i) {
    ASSERT_EQ(pool.submit([&] {
      ids.record();
      both_in_again.arrive();
      if (both_in_again.wait_for()) ++met;
    }), SubmitResult::accepted);
  }
  ASSERT_TRUE(both_in_again.wait_for()) << "a worker died with its task's exception";
  pool.join();
  EXPECT_EQ(met.load(), 2);
  EXPECT_EQ(ids.distinct(), workers);
  EXPECT_EQ(pool.tasks_failed(), 2u);
  EXPECT_EQ(pool.tasks_completed(), 2u);
}

// --- stress ------------------------------------------------------------------------

// Many producers, many tiny tasks, a queue of two: producers block and wake
// constantly. Some producers submit directly, some wait_for_room() first,
// and some give up on a stop midway; a lost wakeup (a producer sleeping
// beside a free slot, a worker sleeping beside a queued task) shows up as a
// producer that never finishes or a count that never completes.
TEST(ThreadPool, NoLostWakeupsUnderStress) {
  constexpr int steady_producers = 8;
  constexpr int tasks_each = 1000;
  constexpr int quitters = 4;
  std::atomic<long> ran{0};
  std::atomic<long> quitter_tasks{0};
  std::stop_source quit;
  ThreadPool pool(3, 2);
  Countdown producers_done(steady_producers + quitters);
  {
    std::vector<std::jthread> producers;
    for (int p = 0; p < steady_producers; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < tasks_each; ++i) {
          if (p % 2 == 1 && !pool.wait_for_room()) break;
          if (pool.submit([&ran] { ++ran; }) != SubmitResult::accepted) break;
          if (p == 0 && i == tasks_each / 2) quit.request_stop();
        }
        producers_done.arrive();
      });
    }
    for (int q = 0; q < quitters; ++q) {
      producers.emplace_back([&] {
        while (pool.submit([&ran] { ++ran; }, quit.get_token()) == SubmitResult::accepted) {
          ++quitter_tasks;
        }
        producers_done.arrive();
      });
    }
    const bool finished = producers_done.wait_for(std::chrono::seconds(40));
    if (!finished) pool.close(ShutdownMode::cancel);  // free the stuck ones, then report
    producers.clear();                                // joins
    ASSERT_TRUE(finished) << producers_done.remaining() << " producers stuck in submit()";
  }
  const long expected = steady_producers * tasks_each + quitter_tasks.load();
  // No close() yet: the workers must empty the queue on their own wakeups.
  EXPECT_TRUE(eventually([&] { return ran.load() == expected; }, std::chrono::seconds(20)))
      << "ran " << ran.load() << " of " << expected
      << " tasks: a worker slept beside a queued task";
  pool.join();
  EXPECT_EQ(ran.load(), expected);
  EXPECT_EQ(pool.tasks_completed(), static_cast<std::uint64_t>(expected));
}

}  // namespace
}  // namespace part3
