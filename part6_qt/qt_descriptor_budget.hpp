// How many clients a Qt server with event-loop threads may hold at once
// within RLIMIT_NOFILE, and the count of those it holds.
//
// Why the Qt servers need this and qt-server does not: every thread that
// runs a Qt event loop owns a descriptor, the wakeup eventfd (or pipe) of
// its event dispatcher (GLib's GMainContext, or Qt's own), created the
// first time the thread runs a loop. If that descriptor cannot be had,
// there is no error to handle: GLib's g_error() ("Creating pipes for
// GWakeup: Too many open files") or Qt's qFatal() ends the process. A
// server whose main thread accepts until accept() fails with EMFILE leaves
// nothing for the next thread's loop, and every client is dropped. So the
// budget is kept before the descriptors run out: a client is admitted only
// if its socket and, at worst, a new thread's eventfd still fit.
//
// The count, for RLIMIT_NOFILE = L and a design of at most T event-loop
// threads for clients (T unlimited for a thread per client):
//   usable      = L - descriptors_reserved  (stdio, listener, the main
//                                            loop's eventfd, the stop pipe, ...)
//   if every client may have a thread of its own (2 per client fit in usable
//   before T threads do): most = usable / 2
//   otherwise:            most = usable - T  (T eventfds, one socket a client)
// A pool must then run at most most_clients() threads (threads_within()),
// or it could hold a thread more than clients and go over.
//
// Thread-safety: admit() is for the accepting thread only; release() and
// admitted() may be called from any thread.
#pragma once

#include <QtGlobal>

#include <atomic>

#include "cs/log.hpp"

namespace part6 {

class DescriptorBudget {
 public:
  static constexpr int descriptors_reserved = 32;
  static constexpr int unlimited_threads = 0;

  // `event_loop_threads`: the most threads with an event loop the server
  // runs for its clients (a pool's size), or unlimited_threads for one per
  // client. Reads RLIMIT_NOFILE and logs the resulting limit.
  explicit DescriptorBudget(int event_loop_threads);

  int most_clients() const { return most_clients_; }

  // The pool size to use instead of `threads` so that the pool never
  // holds more event-loop threads than the budget counted.
  int threads_within(int threads) const;

  // A client was accepted: true if it fits (it is counted until release()),
  // false if it did not (its descriptor is closed at once, before a byte is
  // exchanged, and a rate-limited warning says why).
  bool admit(qintptr descriptor);

  // A client admitted earlier is gone: its socket is closed, and so is its
  // thread's eventfd if it had a thread of its own. Returns the clients
  // still admitted.
  int release();

  int admitted() const { return admitted_.load(std::memory_order_acquire); }

 private:
  int most_clients_;
  std::atomic<int> admitted_{0};
  cs::RepeatLimiter refusals_;
};

}  // namespace part6
