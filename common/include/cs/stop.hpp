// Turning SIGINT/SIGTERM into a stop request that every waiting thread sees.
//
// The signal handler only does async-signal-safe things: it sets a flag and
// writes one byte to a pipe (the self-pipe trick). The pipe is never drained,
// so its read end stays readable from then on: any thread that polls it
// alongside its socket (a blocked accept, a blocked recv) wakes up, now and
// in every later wait. Nothing is interrupted mid-system-call, and no thread
// has to be signalled individually.
//
// Lifecycle: a server creates one StopSignal in main() and calls
// install_stop_handlers() before it starts listening; tests create their own
// and call request_stop() directly. It must outlive every thread that waits
// on it.
#pragma once

#include <atomic>
#include <chrono>

#include "cs/socket.hpp"

namespace cs {

class StopSignal {
 public:
  StopSignal();  // throws std::system_error if the pipe cannot be created
  // Detaches the signal handlers from this object if they were installed
  // for it (install_stop_handlers), and ignores SIGINT and SIGTERM from
  // then on: a signal during the process's exit must not reach it.
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Requests the stop. Async-signal-safe; thread-safe; idempotent.
  void request_stop(int signal_number = 0) noexcept;

  // Thread-safe.
  bool stop_requested() const noexcept { return requested_.load(); }

  // The signal that caused the stop, or 0 when requested directly.
  int signal_number() const noexcept { return signal_.load(); }

  // When the stop was requested (meaningful once stop_requested()). Every
  // connection's shutdown deadline counts from this one moment, so a server
  // stops within one grace period however many connections it has.
  std::chrono::steady_clock::time_point stop_time() const noexcept {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(stop_time_.load()));
  }

  // Readable once stop was requested (and forever after). Poll it with
  // POLLIN next to the descriptors you wait for; never read from it.
  int wait_fd() const noexcept { return read_end_.get(); }

  // Sleeps for `duration` or until a stop is requested, whichever is first.
  // Returns stop_requested(). Thread-safe.
  bool wait(std::chrono::milliseconds duration) const;

 private:
  std::atomic<bool> requested_{false};
  std::atomic<int> signal_{0};
  std::atomic<std::chrono::steady_clock::rep> stop_time_{0};
  FileDescriptor read_end_;
  FileDescriptor write_end_;
};

// Routes SIGINT and SIGTERM to `stop` (process-wide; call once, from main,
// before starting threads) and ignores SIGPIPE, so a write to a closed
// socket returns EPIPE instead of killing the process.
void install_stop_handlers(StopSignal& stop);

}  // namespace cs
