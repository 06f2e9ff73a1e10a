// Exercise part3-1: a pool that grows with load and shrinks when idle.
//
// part3::BasicThreadPool has a fixed number of workers: sized for the peak,
// it keeps idle threads (and their stacks) all day; sized for the average,
// it queues work at the peak while the machine has cores to spare.
// Executors such as Java's ThreadPoolExecutor (core and maximum pool size,
// keep-alive time) grow between two limits instead. This is that pool,
// reduced to its rules.
//
// Edit this file and elastic_pool.cpp; check your work with
//   ./run exercise part3-1
// The check is elastic_pool_check.cpp.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace exercises {

struct ElasticPoolLimits {
  std::size_t min_workers = 1;     // started by the constructor; never retired
  std::size_t max_workers = 4;     // never more alive at once
  std::size_t queue_capacity = 16; // tasks that may wait; submit() blocks while full
  // A worker beyond min_workers that has waited this long without a task retires.
  std::chrono::milliseconds idle_timeout{1000};
};

// The contract to implement:
//
// - The constructor starts min_workers workers (it throws
//   std::invalid_argument unless 1 <= min_workers <= max_workers and
//   queue_capacity >= 1).
// - Growth: submit() queues the task and then, while still holding the lock,
//   starts one more worker if more tasks are queued than there are idle
//   workers (alive and not running a task) and fewer than max_workers are
//   alive. So when submit() returns, worker_count() already includes the new
//   worker, and a task never waits while a worker could still be added.
// - Shrinking: a worker that has waited idle_timeout for a task without
//   getting one retires (its thread function returns) if more than
//   min_workers are alive; otherwise it keeps waiting. worker_count() drops
//   by one when it retires.
// - A retired worker's std::thread is joined, never detached: by the next
//   submit() (outside the lock) or by shutdown(). A thread cannot join
//   itself, so a retiring worker hands its std::thread to someone who can.
// - shutdown() refuses new tasks (submit() returns false), lets the workers
//   run every queued task, then joins every thread, retired ones included;
//   afterwards worker_count() is 0. It may be called more than once; the
//   destructor calls it.
// - Tasks run in FIFO order; a task that throws is logged and its worker
//   carries on (as in part3::BasicThreadPool).
//
// Thread-safe: submit() and the accessors from any thread; shutdown() and
// the destructor from the owner's thread, never from a task.
class ElasticPool {
 public:
  using Task = std::function<void()>;

  explicit ElasticPool(ElasticPoolLimits limits);
  ElasticPool(const ElasticPool&) = delete;
  ElasticPool& operator=(const ElasticPool&) = delete;
  ~ElasticPool();

  // Queues `task`, waiting while the queue is full. False once shut down.
  bool submit(Task task);
  void shutdown();

  std::size_t worker_count() const;  // workers alive now
  std::size_t peak_workers() const;  // the most that were ever alive at once

 private:
  void start_worker();  // call with mutex_ held
  void work(std::uint64_t id);

  const ElasticPoolLimits limits_;

  mutable std::mutex mutex_;
  std::condition_variable not_empty_;  // a task was queued, or shutdown
  std::condition_variable not_full_;   // a slot freed, or shutdown
  std::deque<Task> queue_;                       // guarded by mutex_
  std::map<std::uint64_t, std::thread> workers_;  // guarded by mutex_; alive, by id
  std::vector<std::thread> retired_;             // guarded by mutex_; to be joined
  std::uint64_t next_id_ = 0;                    // guarded by mutex_
  std::size_t busy_ = 0;                         // guarded by mutex_; running a task
  std::size_t peak_ = 0;                         // guarded by mutex_
  bool closed_ = false;                          // guarded by mutex_
};

}  // namespace exercises
