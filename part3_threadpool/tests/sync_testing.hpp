// Events with timed waits, for tests of threaded code. std::latch and
// std::barrier can only wait forever; a test that waits forever for a broken
// pool hangs until ctest kills it and says nothing about why. These wait at
// most `patience` and return false, so the test fails on an assertion that
// names what did not happen. They prove ordering by events, never by sleeps.
// Used by the pool's unit tests and by the chapter's exercise checks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

namespace part3::testing {

using namespace std::chrono_literals;

// How long a test waits for something that should happen at once. Generous,
// because a loaded CI machine under ThreadSanitizer can be slow; a correct
// implementation never comes close to it, so it only bounds a failure.
inline constexpr std::chrono::milliseconds patience = 10s;

// How long a task holds its worker waiting for a gate the test opens. Longer
// than `patience`, so a task that gives up holding can never make a
// waiting test pass late; it only stops a broken test from hanging forever.
inline constexpr std::chrono::milliseconds hold_limit = 30s;

// A one-shot event: open() once, any number of threads wait for it.
// Thread-safe.
class Gate {
 public:
  // Notifies while holding the lock, unlike the pool (which notifies after
  // unlocking, to spare the woken thread a wait for the mutex): a test
  // destroys its Gate as soon as its wait returns, and the wait cannot
  // return before this unlock, so the notify is over by then.
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    opened_.notify_all();
  }

  // True once open; false if `timeout` passed first.
  bool wait_for(std::chrono::milliseconds timeout = patience) {
    std::unique_lock lock(mutex_);
    return opened_.wait_for(lock, timeout, [this] { return open_; });
  }

  // What a task does to hold its worker until the test opens the gate.
  void hold() { wait_for(hold_limit); }

  bool is_open() const {
    std::lock_guard lock(mutex_);
    return open_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;  // guarded by mutex_
};

// Counts arrivals; waiters wait until `count` have arrived. Like std::latch,
// but with a timed wait and the current count readable. Thread-safe.
class Countdown {
 public:
  explicit Countdown(std::size_t count) : remaining_(count) {}

  // Notifies under the lock, for the reason given at Gate::open().
  void arrive() {
    std::lock_guard lock(mutex_);
    if (remaining_ > 0) --remaining_;
    changed_.notify_all();
  }

  // True once `count` arrivals happened; false if `timeout` passed first.
  bool wait_for(std::chrono::milliseconds timeout = patience) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return remaining_ == 0; });
  }

  std::size_t remaining() const {
    std::lock_guard lock(mutex_);
    return remaining_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t remaining_;  // guarded by mutex_
};

// Opens a gate when it goes out of scope. Declared after the pool whose
// tasks wait on the gate, it is destroyed first, so a test that fails an
// assertion early still releases the blocked tasks and the pool's
// destructor can join its workers instead of hanging.
class OpenOnExit {
 public:
  explicit OpenOnExit(Gate& gate) : gate_(gate) {}
  OpenOnExit(const OpenOnExit&) = delete;
  OpenOnExit& operator=(const OpenOnExit&) = delete;
  ~OpenOnExit() { gate_.open(); }

 private:
  Gate& gate_;
};

// Polls `condition` until it holds or `timeout` passes. Only for states that
// are the *absence* of an event (a thread being blocked, a worker having
// retired after an idle period): there is nothing to wait on, so the test
// looks, with a deadline. Everything that is an event uses Gate/Countdown.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = patience) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace part3::testing
