// A thread pool with a fixed number of workers and a bounded task queue: the
// engine of part 3's server (threadpool_server.cpp), usable for any task.
//
//   producers --submit()--> [ bounded FIFO queue ] --> worker 1 .. worker N
//               blocks while full (or gives up on      each runs one task at
//               its stop_token, or on close())         a time, in FIFO order
//
// What makes it a rate limiter rather than a way to reuse threads:
// - a fixed number of workers: at most N tasks run at once, however many
//   arrive, so the load a pool puts on the machine is set by construction;
// - a bounded queue: at most queue_capacity tasks wait. When it is full,
//   submit() blocks the producer (backpressure), so a burst slows whoever
//   produces it instead of growing memory without limit;
// - waits that end on a std::stop_token: a producer blocked in submit() or
//   wait_for_room() gives up when its stop is requested, so a server's
//   acceptor cannot hang there after SIGTERM (stop_token_bridge.hpp turns the
//   server's cs::StopSignal into such a token).
//
// Lifecycle. The constructor starts the workers. close() refuses new tasks
// and wakes every blocked producer; its mode says what happens to the tasks
// still queued:
//   drain   the workers run every one of them, then exit;
//   cancel  close() takes them out of the queue and returns them, unrun, so
//           the caller can tell their owners (the server closes those
//           connections with a log line). A task is a value, so "told" is
//           whatever the caller does with it; destroying it runs its
//           destructor (a connection task closes its socket).
// A task that is already running is never interrupted: it always finishes.
// join() waits until every worker has exited. The destructor finishes the job
// if the owner did not: close(cancel) unless close() was called, then join().
// Cancel, not drain, because a destructor also runs while an exception
// unwinds, when starting the queued work would be the wrong thing to do.
//
// A task that throws is logged and counted (tasks_failed()); its worker
// carries on with the next task, so a bad task never shrinks the pool.
//
// Thread-safety: every member function is thread-safe except join() and the
// destructor, which belong to the pool's owner (one thread). From inside a
// task, try_submit(), close() and the accessors are fine; a blocking
// submit() or wait_for_room() can deadlock there (the room it waits for may
// be the one its own worker would free), and join() would wait for itself.
#pragma once

#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

#include "cs/log.hpp"

namespace part3 {

// How a submission ended. Unless it is `accepted`, the task was not queued
// and has not been moved from: the caller still owns it.
enum class SubmitResult {
  accepted,        // queued; a worker will run it (unless close(cancel) hands it back)
  full,            // try_submit() only: no room, and it does not wait
  stop_requested,  // the caller's stop_token was stopped before there was room
  closed,          // close() was called: the pool takes no more tasks
};

enum class ShutdownMode { drain, cancel };

// What the pool can run: a movable callable taking no arguments (its result
// is ignored). Move-only tasks are fine: a connection task owns a socket.
template <typename Task>
concept PoolTask = std::move_constructible<Task> && std::invocable<Task&>;

template <PoolTask Task>
class BasicThreadPool {
 public:
  // Starts `workers` threads (at least 1) and a queue with room for
  // `queue_capacity` waiting tasks (at least 1). Throws std::invalid_argument
  // for a zero, or std::system_error if a thread cannot be started (the ones
  // already started are stopped and joined first).
  BasicThreadPool(std::size_t workers, std::size_t queue_capacity) : capacity_(queue_capacity) {
    if (workers == 0) throw std::invalid_argument("a thread pool needs at least one worker");
    if (queue_capacity == 0) throw std::invalid_argument("a thread pool queue needs room");
    workers_.reserve(workers);
    try {
      for (std::size_t i = 0; i < workers; ++i) workers_.emplace_back([this] { work(); });
    } catch (...) {
      close(ShutdownMode::cancel);
      join();
      throw;
    }
  }

  BasicThreadPool(const BasicThreadPool&) = delete;
  BasicThreadPool& operator=(const BasicThreadPool&) = delete;

  // close(cancel) unless close() was already called (a drain in progress is
  // left to finish), then join(). Cancelled tasks are destroyed unrun.
  ~BasicThreadPool() {
    bool already_closed;
    {
      std::lock_guard lock(mutex_);
      already_closed = closed_;
    }
    if (!already_closed) close(ShutdownMode::cancel);
    join();
  }

  // Queues `task`, waiting while the queue is full. Returns `accepted` once
  // queued (the task has been moved from), or, without queuing and without
  // touching `task`, `closed` if the pool is or becomes closed, or
  // `stop_requested` if `stop` is or becomes stopped before there is room.
  // A stop already requested refuses the task even when there is room, so a
  // producer that has been told to stop never starts new work.
  // Thread-safe; any number of producers.
  SubmitResult submit(Task&& task, std::stop_token stop = {}) {
    std::unique_lock lock(mutex_);
    const SubmitResult room = wait_until_room(lock, stop);
    if (room != SubmitResult::accepted) return room;
    queue_.push_back(std::move(task));
    lock.unlock();
    not_empty_.notify_one();
    return SubmitResult::accepted;
  }

  // Queues `task` if there is room now; never waits. Returns `accepted`,
  // `full` or `closed` (in the last two cases `task` is untouched).
  // Thread-safe.
  SubmitResult try_submit(Task&& task) {
    std::unique_lock lock(mutex_);
    if (closed_) return SubmitResult::closed;
    if (queue_.size() >= capacity_) return SubmitResult::full;
    queue_.push_back(std::move(task));
    lock.unlock();
    not_empty_.notify_one();
    return SubmitResult::accepted;
  }

  // Waits until the queue has room for one task, without submitting one.
  // True: there was room when it returned. False: the pool was closed or
  // `stop` was stopped first. Lets a producer wait *before* it creates a task
  // (the server waits here before it accepts a connection, so a connection
  // is never taken from the kernel while there is nowhere to put it).
  // With several producers the room may be gone again by the time the caller
  // submits (submit() then waits); with one producer it is still there.
  // Thread-safe.
  bool wait_for_room(std::stop_token stop = {}) {
    std::unique_lock lock(mutex_);
    const bool had_to_wait = !closed_ && !stop.stop_requested() && queue_.size() >= capacity_;
    if (wait_until_room(lock, stop) != SubmitResult::accepted) return false;
    // A worker wakes one waiting producer per slot it frees. This thread
    // will not fill the slot itself, so if that wakeup was meant for it, it
    // passes it on to a producer that will; otherwise a submit() blocked
    // next to it could sleep on beside a free slot (a lost wakeup).
    if (had_to_wait) {
      lock.unlock();
      not_full_.notify_one();
    }
    return true;
  }

  // Refuses new tasks from now on and wakes every producer blocked in
  // submit() or wait_for_room() (they return `closed` / false). With
  // `cancel`, removes the queued tasks and returns them in FIFO order, unrun;
  // with `drain`, returns nothing and the workers run them all. Running tasks
  // finish either way. Does not wait for anything: join() does. May be called
  // more than once; a later cancel takes whatever a drain has not started.
  // Thread-safe (a task may call it).
  std::vector<Task> close(ShutdownMode mode) {
    std::vector<Task> cancelled;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      if (mode == ShutdownMode::cancel) {
        cancelled.reserve(queue_.size());
        for (Task& task : queue_) cancelled.push_back(std::move(task));
        queue_.clear();
      }
    }
    not_empty_.notify_all();  // idle workers: exit, or drain what is left first
    not_full_.notify_all();   // blocked producers: the pool is closed
    return cancelled;
  }

  // Waits until every worker has exited: the running tasks have finished
  // and, after close(drain), the queue is empty. Calls close(drain) first if
  // close() was never called. Owner only: not thread-safe, and never from a
  // task (a worker cannot wait for itself to exit).
  void join() {
    {
      std::unique_lock lock(mutex_);
      if (!closed_) {
        lock.unlock();
        close(ShutdownMode::drain);
      }
    }
    for (std::thread& worker : workers_) {
      if (worker.joinable()) worker.join();
    }
  }

  // Fixed at construction. Thread-safe.
  std::size_t worker_count() const noexcept { return workers_.size(); }
  std::size_t queue_capacity() const noexcept { return capacity_; }

  // Snapshots for logs, metrics and tests; each may be stale by the time the
  // caller looks at it. Thread-safe.
  std::size_t queued() const { return locked(queue_.size()); }
  std::size_t running() const { return locked(running_); }
  // Producers blocked in submit() or wait_for_room() right now: how much
  // backpressure the pool is applying.
  std::size_t waiting_producers() const { return locked(waiting_producers_); }
  std::uint64_t tasks_completed() const { return locked(completed_); }  // returned normally
  std::uint64_t tasks_failed() const { return locked(failed_); }        // threw

 private:
  // Waits (lock held on entry and exit) until the queue has room, the pool
  // is closed, or `stop` is stopped. Returns accepted (meaning: room),
  // closed or stop_requested.
  SubmitResult wait_until_room(std::unique_lock<std::mutex>& lock, const std::stop_token& stop) {
    if (!closed_ && !stop.stop_requested() && queue_.size() >= capacity_) {
      ++waiting_producers_;
      // condition_variable_any registers a stop callback for this wait that
      // notifies it, so a stop request wakes this producer by itself.
      not_full_.wait(lock, stop, [this] { return closed_ || queue_.size() < capacity_; });
      --waiting_producers_;
    }
    if (closed_) return SubmitResult::closed;
    if (stop.stop_requested()) {
      // Same hand-over as in wait_for_room(): if a worker's "one slot free"
      // wakeup picked this producer, which now leaves, give it to another.
      // (libstdc++'s stop callback happens to notify_all, which covers this
      // case already; the standard does not promise it.)
      if (queue_.size() < capacity_) not_full_.notify_one();
      return SubmitResult::stop_requested;
    }
    return SubmitResult::accepted;
  }

  // Each worker: take the oldest task, run it outside the lock, repeat;
  // exit once the pool is closed and the queue is empty.
  void work() {
    for (;;) {
      std::optional<Task> task;  // Task need not be default-constructible
      {
        std::unique_lock lock(mutex_);
        not_empty_.wait(lock, [this] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return;  // closed, and drained or cancelled
        task.emplace(std::move(queue_.front()));
        queue_.pop_front();
        ++running_;
      }
      not_full_.notify_one();  // one slot freed: wake one blocked producer
      const bool returned_normally = run(*task);
      task.reset();  // destroyed outside the lock: a connection task closes its socket here
      std::lock_guard lock(mutex_);
      --running_;
      ++(returned_normally ? completed_ : failed_);
    }
  }

  // Runs one task, containing its exception: an exception escaping a thread
  // function would call std::terminate and take the whole server down.
  static bool run(Task& task) noexcept {
    try {
      std::invoke(task);
      return true;
    } catch (const std::exception& error) {
      cs::log_error("thread pool: a task threw: ", error.what(), " (its worker carries on)");
    } catch (...) {
      cs::log_error("thread pool: a task threw a non-standard exception (its worker carries on)");
    }
    return false;
  }

  template <typename T>
  T locked(const T& value) const {
    std::lock_guard lock(mutex_);
    return value;
  }

  const std::size_t capacity_;

  // One mutex guards all of the pool's mutable state below. Tasks run
  // outside it, so it is held only for a few pointer moves at a time.
  mutable std::mutex mutex_;
  std::deque<Task> queue_;               // guarded by mutex_; FIFO, size <= capacity_
  bool closed_ = false;                  // guarded by mutex_; set once by close()
  std::size_t running_ = 0;              // guarded by mutex_
  std::size_t waiting_producers_ = 0;    // guarded by mutex_
  std::uint64_t completed_ = 0;          // guarded by mutex_
  std::uint64_t failed_ = 0;             // guarded by mutex_
  // Signalled (with mutex_) when a task is queued, and on close.
  std::condition_variable not_empty_;
  // Signalled when a worker frees a slot, and on close. The _any variant,
  // because only it can also wake on a std::stop_token.
  std::condition_variable_any not_full_;

  // Filled by the constructor, joined by join(): the owner's thread only.
  std::vector<std::thread> workers_;
};

// The pool for type-erased tasks (copyable callables), as tests and most
// callers want it. The server uses BasicThreadPool<ConnectionTask>, because
// its task owns a socket and std::function requires a copyable callable.
using ThreadPool = BasicThreadPool<std::function<void()>>;

}  // namespace part3
