// Exercise part3-2: refuse instead of queue; the contract is in
// refusing_server.hpp.
//
// This starting point is threadpool-server's run_server() with the listener
// passed in: it applies backpressure (it stops accepting while the queue is
// full), so a client that finds the server full waits in the backlog and is
// never refused. The place to change is marked EXERCISE(part3-2).
#include "refusing_server.hpp"

#include <chrono>
#include <string>
#include <string_view>

#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/log.hpp"
#include "cs/serve_connection.hpp"
#include "cs/stats.hpp"
#include "stop_token_bridge.hpp"
#include "thread_pool.hpp"

namespace exercises {

namespace {

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

}  // namespace

ServerReport run_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                        std::size_t queue_capacity, const cs::StopSignal& stop) {
  cs::ServerStats stats;
  std::uint64_t refused = 0;
  ConnectionPool pool(options.threads, queue_capacity);
  const part3::StopTokenBridge stop_token(stop);

  // EXERCISE(part3-2): this loop applies backpressure: it waits for room
  // before it accepts. Make it accept at once instead, then try_submit() the
  // task; when the pool answers SubmitResult::full, the task is still yours:
  // send busy_message on its socket (cs::send_some never blocks), log
  // "refused PEER: ...", close it, and count it in `refused`.
  while (pool.wait_for_room(stop_token.token())) {
    auto accepted = cs::accept_next(listener.get(), stop);
    if (!accepted) break;
    cs::log_info("accepted ", accepted->peer.to_string());
    ConnectionTask task{std::move(*accepted), Clock::now(), options, stop, stats};
    if (pool.submit(std::move(task), stop_token.token()) != part3::SubmitResult::accepted) {
      close_unserved(task.client, ConnectionTask::shutdown_reason);
      break;
    }
  }

  listener.reset();
  for (ConnectionTask& task : pool.close(part3::ShutdownMode::cancel)) {
    close_unserved(task.client, ConnectionTask::shutdown_reason);
  }
  pool.join();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary() +
                                             " refused=" + std::to_string(refused));
  return {stats.connections.load(), refused};
}

}  // namespace exercises
