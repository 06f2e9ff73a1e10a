// Reference solution of exercise part2-1; the contract is in
// pthread_limited_server.hpp.
//
// pthread_server.cpp's code plus one idea: ActiveConnections, which already
// counts the client threads, also signals an eventfd whenever one ends, and
// the acceptor waits in poll() on that eventfd and the stop pipe while the
// limit is reached. Until a slot frees it never calls accept, so new clients
// wait in the kernel's backlog. The same policy as threaded-server's
// ClientThreads (part2_threads/client_threads.hpp).
#include "pthread_limited_server.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>

#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/log.hpp"
#include "cs/serve_connection.hpp"
#include "cs/stats.hpp"

namespace exercises {

namespace {

// How many client threads are still running. A detached thread cannot be
// joined, and it ends on its own schedule; this count is the only way
// run_server can know that none is left before it returns, destroying the
// stats and this object (and main then the options) that the threads use.
// threaded-server joins its std::threads instead, which waits for exactly
// that with no extra state. Thread-safe.
class ActiveConnections {
 public:
  // Throws std::system_error if the eventfd cannot be created.
  ActiveConnections() : slot_freed_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!slot_freed_) {
      throw std::system_error(errno, std::generic_category(), "cannot create an eventfd");
    }
  }

  // The acceptor, before creating a thread.
  void add() {
    std::lock_guard lock(mutex_);
    ++count_;
  }

  // A client thread, as its very last use of anything run_server owns.
  void remove() {
    std::lock_guard lock(mutex_);
    --count_;
    // Notified and signalled under the lock: the waiter cannot return (and
    // destroy this object) until the unlock, after which this thread touches
    // nothing here. Adding 1 to an eventfd cannot block or fail short of
    // overflowing it.
    if (count_ == 0) none_left_.notify_all();
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t ignored = ::write(slot_freed_.get(), &one, sizeof one);
  }

  // Blocks until no client thread is running. After a stop this is bounded:
  // each connection ends by the shared grace deadline.
  void wait_until_none() {
    std::unique_lock lock(mutex_);
    none_left_.wait(lock, [this] { return count_ == 0; });
  }

  // Waits too, so that no thread outlives this object even when run_server
  // leaves by an exception (a broken listener); a SIGTERM then ends the
  // connections within the grace period.
  ~ActiveConnections() { wait_until_none(); }

  // Blocks until fewer than `limit` client threads run (true; at once when
  // limit is 0, no limit) or a stop is requested (false). The acceptor only.
  bool wait_for_slot(unsigned limit, const cs::StopSignal& stop) {
    for (;;) {
      // Drain first, then look: a thread that ends after the look writes
      // after it too, so its wake-up cannot be lost.
      std::uint64_t ignored_count = 0;
      [[maybe_unused]] const ssize_t ignored =
          ::read(slot_freed_.get(), &ignored_count, sizeof ignored_count);
      if (stop.stop_requested()) return false;
      {
        std::lock_guard lock(mutex_);
        if (limit == 0 || count_ < limit) return true;
      }
      pollfd watched[2] = {{stop.wait_fd(), POLLIN, 0}, {slot_freed_.get(), POLLIN, 0}};
      ::poll(watched, 2, -1);  // EINTR or a wake-up: the loop looks again
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable none_left_;
  std::size_t count_ = 0;  // guarded by mutex_
  cs::FileDescriptor slot_freed_;  // remove() adds 1; wait_for_slot() drains it
};

// Everything a client thread needs. pthread_create passes one void*, and
// the acceptor's locals are gone by the time the thread runs, so this lives
// on the heap and the thread owns it: the acceptor allocates it, and from a
// successful pthread_create on, only the thread may use or delete it.
struct ClientThreadArgs {
  cs::BlockingConnection client;
  const cs::ServerOptions& options;
  cs::ServerStats& stats;
  ActiveConnections& active;
};

// The thread's start routine: the signature pthread_create requires.
void* client_thread(void* raw_args) {
  std::unique_ptr<ClientThreadArgs> args(static_cast<ClientThreadArgs*>(raw_args));
  try {
    cs::serve_connection(args->client, args->options, args->stats);
  } catch (const std::exception& error) {
    // An exception leaving a thread's start routine would end the process.
    cs::log_error("client thread failed: ", error.what());
  }
  ActiveConnections& active = args->active;
  args.reset();     // closes the socket before the connection counts as gone
  active.remove();  // from here on, run_server may return at any moment
  return nullptr;
}

}  // namespace

void run_pthread_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                        const cs::StopSignal& stop) {
  cs::ServerStats stats;
  ActiveConnections active;

  // At the limit the acceptor waits here, not in accept: the clients
  // beyond it stay in the kernel's backlog, connected but not greeted.
  while (active.wait_for_slot(options.max_clients, stop)) {
    auto accepted = cs::accept_next(listener.get(), stop);
    if (!accepted) break;
    cs::log_info("accepted ", accepted->peer.to_string());
    auto* args = new ClientThreadArgs{
        cs::BlockingConnection(std::move(accepted->fd), accepted->peer, stop,
                               options.connection_policy()),
        options, stats, active};
    active.add();  // before the thread exists, so it can never go below zero
    pthread_t thread;
    const int error = pthread_create(&thread, nullptr, client_thread, args);
    if (error != 0) {
      // EAGAIN: out of threads or memory. The thread never ran, so args is
      // still ours: deleting it closes this client; the server carries on.
      cs::log_error("cannot start a thread for ", accepted->peer.to_string(), ": ",
                    std::strerror(error), "; closed it");
      delete args;
      active.remove();
      continue;
    }
    // Nobody will join this thread: detached, it releases its own stack and
    // descriptor when it returns.
    pthread_detach(thread);
  }

  // Clients still waiting in the backlog were never accepted: closing the
  // listener resets them, so they fail at once instead of hanging.
  listener.reset();
  active.wait_until_none();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace exercises
