// Thread-pool socket server - a fixed pool of worker threads serves the
// clients, taken in turn from a bounded queue of accepted connections.
//
// How it works: the main thread accepts a connection and submits it to a pool
// of --threads workers (thread_pool.hpp), one of which runs serve_connection()
// for it. Up to --queue more connections wait, accepted but ungreeted; when
// the queue is full the acceptor stops accepting and clients wait in the
// kernel's backlog (backpressure, end to end). Its limit: a silent client
// holds a worker, so --threads silent clients stall everyone (see
// --idle-timeout-ms). New since part 2: threads are made once, and their
// number is a hard limit (rate limiting by construction); only run_server
// and the task it submits changed. On SIGTERM queued connections are closed.
//
// Run:  threadpool-server 9090 --threads 2 --queue 16
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include <chrono>
#include <cstddef>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/serve_connection.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"
#include "stop_token_bridge.hpp"
#include "thread_pool.hpp"

namespace {

// Why 2 workers by default: the original series' pool size, so that three
// clients show the pool's effect (the third waits). Here a worker spends its
// time blocked on a socket, not computing, so the right size is the number
// of clients the server should serve at once, not the core count; a real
// deployment measures it.
constexpr unsigned default_threads = 2;
// Accepted connections that may wait for a worker. Past it, clients wait in
// the kernel's listen backlog (--backlog) instead, unaccepted.
constexpr std::size_t default_queue = 16;

using Clock = std::chrono::steady_clock;

// Closes a connection that no worker started. It was never greeted: for the
// client this is the same as being turned away from the backlog.
void close_unserved(cs::Client& client, std::string_view why) {
  cs::log_info("closing ", client.peer.to_string(), ": ", why);
  client.fd.reset();
}

// A connection accepted but not yet served: the pool's task. The socket
// becomes a BlockingConnection only when a worker starts the task, so the
// idle timeout does not count the time spent waiting in the queue.
struct ConnectionTask {
  cs::Client client;
  Clock::time_point accepted_at;
  const cs::ServerOptions& options;
  const cs::StopSignal& stop;
  cs::ServerStats& stats;

  void operator()() {
    // A worker freed by the stop can take a queued connection before the
    // acceptor's close(cancel) does: treat it as cancelled all the same.
    if (stop.stop_requested()) {
      close_unserved(client, shutdown_reason);
      return;
    }
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - accepted_at);
    cs::log_info("serving ", client.peer.to_string(), " after ", waited.count(),
                 " ms in the queue");
    cs::BlockingConnection connection(std::move(client.fd), client.peer, stop,
                                      options.connection_policy());
    cs::serve_connection(connection, options, stats);
  }

  static constexpr std::string_view shutdown_reason = "shutting down before a worker was free";
};

using ConnectionPool = part3::BasicThreadPool<ConnectionTask>;

// Accepts clients while the pool has room for them, until a stop is requested.
void run_server(const cs::ServerOptions& options, std::size_t queue_capacity,
                const cs::StopSignal& stop) {
  cs::FileDescriptor listener = cs::listen_tcp(options.host, options.port, options.backlog);
  cs::announce_listening(cs::local_endpoint(listener.get()));
  cs::ServerStats stats;
  ConnectionPool pool(options.threads, queue_capacity);
  const part3::StopTokenBridge stop_token(stop);  // ends the pool's waits on SIGTERM

  // Backpressure: accept only when the queue has room. While every worker
  // is busy and the queue is full, this thread waits here, not in accept(),
  // so new clients wait in the kernel's backlog (as in part 1) instead of
  // being taken in with nowhere to go.
  while (pool.wait_for_room(stop_token.token())) {
    auto accepted = cs::accept_next(listener.get(), stop);
    if (!accepted) break;
    cs::log_info("accepted ", accepted->peer.to_string());
    ConnectionTask task{std::move(*accepted), Clock::now(), options, stop, stats};
    // This thread is the pool's only producer, so the room it waited for is
    // still there: submit() does not wait, and fails only on a stop.
    if (pool.submit(std::move(task), stop_token.token()) != part3::SubmitResult::accepted) {
      close_unserved(task.client, ConnectionTask::shutdown_reason);
      break;
    }
  }

  // Clients still waiting in the backlog were never accepted: closing the
  // listener resets them, so they fail at once instead of hanging.
  listener.reset();
  // Connections still queued are cancelled, not drained: none has been
  // greeted yet, and a drained one would get whatever is left of the shared
  // grace period, often nothing (docs/part3_threadpool.md, "Shutdown").
  for (ConnectionTask& task : pool.close(part3::ShutdownMode::cancel)) {
    close_unserved(task.client, ConnectionTask::shutdown_reason);
  }
  // Connections being served saw the stop in BlockingConnection and end by
  // the shared grace deadline; then every worker exits.
  pool.join();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("threadpool-server",
                               "Thread-pool TCP server: a fixed pool of workers serves clients");
  command_line.add_threads_option(default_threads);
  std::size_t queue_capacity = default_queue;
  command_line.app()
      .add_option("--queue", queue_capacity, "Accepted connections that may wait for a worker")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("threadpool-server", [&] { run_server(options, queue_capacity, stop); });
}
