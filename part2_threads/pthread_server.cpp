// Threaded socket server, pthreads edition - a new detached POSIX thread for
// each connecting client, as in the original series.
//
// How it works: the same model as threaded_server.cpp, with what std::thread
// wraps spelled out: the acceptor packs the client into a heap-allocated
// struct, hands its ownership to pthread_create's one void* argument, and
// detaches the thread, which frees the struct and itself when it returns.
// Nobody can join a detached thread, so shutdown waits on a count of active
// connections instead (see ActiveConnections). Its limit is threaded-server's
// (a thread per client, no admission control: that is exercise part2-1).
//
// Run:  pthread-server 9090 --protocol shift
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include <pthread.h>

#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>

#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/serve_connection.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"

namespace {

// How many client threads are still running. A detached thread cannot be
// joined, and it ends on its own schedule; this count is the only way
// run_server can know that none is left before it returns, destroying the
// stats and this object (and main then the options) that the threads use.
// threaded-server joins its std::threads instead, which waits for exactly
// that with no extra state. Thread-safe.
class ActiveConnections {
 public:
  // The acceptor, before creating a thread.
  void add() {
    std::lock_guard lock(mutex_);
    ++count_;
  }

  // A client thread, as its very last use of anything run_server owns.
  void remove() {
    std::lock_guard lock(mutex_);
    --count_;
    // Notified under the lock: the waiter cannot return (and destroy this
    // object) until the unlock, after which this thread touches nothing here.
    if (count_ == 0) none_left_.notify_all();
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

 private:
  std::mutex mutex_;
  std::condition_variable none_left_;
  std::size_t count_ = 0;  // guarded by mutex_
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

// Accepts clients and starts a detached thread for each until a stop is
// requested, then waits until no client thread is left.
void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop) {
  cs::FileDescriptor listener = cs::listen_tcp(options.host, options.port, options.backlog);
  cs::announce_listening(cs::local_endpoint(listener.get()));
  cs::ServerStats stats;
  ActiveConnections active;

  while (auto accepted = cs::accept_next(listener.get(), stop)) {
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

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("pthread-server", "Threaded TCP server: a detached pthread per client");
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("pthread-server", [&] { run_server(options, stop); });
}
