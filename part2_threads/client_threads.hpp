// The thread registry of threaded-server: one std::thread per client, kept
// so that every one of them is joined, and --max-clients admission control.
//
// A std::thread must be joined (or detached) before it is destroyed, and a
// server that joined only at shutdown would keep every finished thread's
// stack until then. So each client thread, as its last act, moves itself to
// a "finished" list and signals an eventfd; the acceptor, which waits on that
// eventfd next to the listening socket and the stop pipe, joins whatever
// finished. At shutdown join_all() waits for the rest, which end by the
// shared grace deadline because their BlockingConnection sees the stop.
//
//   acceptor                        client thread
//   --------                        -------------
//   wait_for_client() ---poll---+   body(): serve the client
//     listener (if a slot free) |   finish(): running -> finished
//     stop pipe                 |             write(eventfd)
//     eventfd  <----------------+-- (the acceptor wakes, joins it)
//   start(body) -> running
//
// Lifecycle: run_server creates one ClientThreads before its accept loop and
// destroys it after join_all(); client threads never touch it after finish().
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <list>
#include <mutex>
#include <thread>
#include <utility>

#include "cs/log.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace part2 {

class ClientThreads {
 public:
  // max_clients: most client threads running at once; 0 = no limit.
  // Throws std::system_error if the eventfd cannot be created.
  explicit ClientThreads(unsigned max_clients);
  ClientThreads(const ClientThreads&) = delete;
  ClientThreads& operator=(const ClientThreads&) = delete;

  // Joins every thread (join_all()), so none outlives the registry, even
  // when run_server leaves by an exception (a broken listener). The clients
  // are then still served until they leave; a SIGTERM ends them within the
  // grace period, as in a normal shutdown.
  ~ClientThreads();

  // Blocks until a client is waiting on listen_fd and a slot is free (true),
  // or a stop was requested (false). While the server is at --max-clients it
  // does not even look at the listener, so new clients wait in the kernel's
  // backlog, connected but not greeted. Joins every thread that finishes
  // meanwhile, so finished threads never pile up, even on an idle server.
  // Acceptor thread only.
  bool wait_for_client(int listen_fd, const cs::StopSignal& stop);

  // Runs body() on a new thread, counted as running until it returns. An
  // exception escaping body is logged and dropped, so the thread still
  // finishes properly (and the process does not terminate). If the thread
  // cannot be created, throws std::system_error and destroys body, so what
  // it owned (the client's socket) is closed. Acceptor thread only.
  template <typename Body>
  void start(Body body);

  // Waits for every running thread to finish and joins them all. Returns
  // only when no client thread exists. Acceptor thread only.
  void join_all();

  // Threads whose body has not returned yet. Thread-safe.
  std::size_t running() const;
  // Threads joined so far (for tests and the curious). Thread-safe.
  std::uint64_t joined() const;

 private:
  using Entry = std::list<std::thread>::iterator;

  // Called by a client thread when its body has returned: moves its own
  // std::thread to finished_ and wakes the acceptor. Its last use of *this.
  void finish(Entry self) noexcept;
  // Joins the threads in finished_. Acceptor thread only.
  void join_finished();
  void drain_wakeups() noexcept;

  const unsigned max_clients_;
  mutable std::mutex mutex_;
  std::list<std::thread> running_;   // guarded by mutex_: bodies still running
  std::list<std::thread> finished_;  // guarded by mutex_: bodies done, not yet joined
  std::uint64_t joined_ = 0;         // guarded by mutex_
  bool at_limit_ = false;            // acceptor thread only: for the log lines
  // Written (a count of 1) by each finishing thread, read by the acceptor.
  cs::FileDescriptor finished_event_;
};

template <typename Body>
void ClientThreads::start(Body body) {
  join_finished();  // a busy server reaps here too, not only when it waits
  // The mutex is held until the new std::thread is stored in its entry: the
  // thread's finish() takes the same mutex, so it cannot move an entry that
  // does not hold the thread yet, however fast the client leaves.
  std::lock_guard lock(mutex_);
  const Entry self = running_.emplace(running_.end());
  try {
    *self = std::thread([this, self, body = std::move(body)]() mutable {
      try {
        body();
      } catch (const std::exception& error) {
        cs::log_error("client thread failed: ", error.what());
      } catch (...) {
        cs::log_error("client thread failed: an exception that is not a std::exception");
      }
      finish(self);
    });
  } catch (...) {
    running_.erase(self);  // no thread: the lambda (and body) is destroyed
    throw;
  }
}

}  // namespace part2
