// Turns the server's cs::StopSignal into a std::stop_token, so that waits on
// condition variables (the thread pool's submit() and wait_for_room()) end on
// SIGTERM just as socket waits do.
//
// Why a thread: cs::StopSignal is set from a signal handler, which may only
// do async-signal-safe things (an atomic store, a write() to a pipe).
// Requesting a std::stop_source runs its stop callbacks, which lock mutexes
// and notify condition variables: not async-signal-safe. So the handler keeps
// doing what it does, and a small watcher thread waits in poll() on the stop
// pipe and requests the stop_source on its behalf, in an ordinary thread:
//
//   SIGTERM --> handler --> stop pipe readable --> watcher thread
//                                                    --> stop_source.request_stop()
//                                                    --> condition_variable_any waits wake
//
// Lifecycle: create it after the StopSignal and destroy it before; the
// destructor ends the watcher (without requesting the stop) and joins it.
#pragma once

#include <stop_token>
#include <thread>

#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace part3 {

class StopTokenBridge {
 public:
  // Starts the watcher. Throws std::system_error if its wake-up pipe or the
  // thread cannot be created.
  explicit StopTokenBridge(const cs::StopSignal& stop);
  StopTokenBridge(const StopTokenBridge&) = delete;
  StopTokenBridge& operator=(const StopTokenBridge&) = delete;
  ~StopTokenBridge();

  // Stopped (shortly) after the StopSignal is: within one wake-up of the
  // watcher thread, and forever after. Thread-safe.
  std::stop_token token() const noexcept { return source_.get_token(); }

 private:
  void watch(const cs::StopSignal& stop);

  std::stop_source source_;       // requested by the watcher thread only
  cs::FileDescriptor wake_read_;  // the destructor writes to wake_write_ to end the watcher
  cs::FileDescriptor wake_write_;
  std::thread watcher_;           // started by the constructor, joined by the destructor
};

}  // namespace part3
