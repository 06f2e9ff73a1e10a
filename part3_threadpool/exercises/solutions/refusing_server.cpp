// Exercise part3-2, reference solution: refuse instead of queue; the
// contract is in refusing_server.hpp.
#include "refusing_server.hpp"

#include <chrono>
#include <string>
#include <string_view>

#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/log.hpp"
#include "cs/serve_connection.hpp"
#include "cs/stats.hpp"
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

// Answers a client the server has no room for, without ever waiting for it:
// one non-blocking send (a new connection's send buffer is empty, so the
// message fits; if it somehow did not, the client gets less, and the
// acceptor still does not wait), then close. A client that already sent
// data we never read would see the close as a reset, which can destroy the
// busy message in flight; shift and framed clients wait for the greeting
// first, so this does not arise here. A server that must guarantee the
// message hands the socket to a lingering close instead.
void refuse(cs::Client& client) {
  const cs::ByteView message = cs::as_bytes(busy_message);
  const ssize_t sent = cs::send_some(client.fd.get(), message);
  const bool whole = sent == static_cast<ssize_t>(message.size());
  cs::log_info("refused ", client.peer.to_string(), ": every worker busy and the queue full",
               whole ? "" : " (the busy message did not fit)");
  client.fd.reset();
}

}  // namespace

ServerReport run_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                        std::size_t queue_capacity, const cs::StopSignal& stop) {
  cs::ServerStats stats;
  std::uint64_t refused = 0;
  ConnectionPool pool(options.threads, queue_capacity);
  // No StopTokenBridge: this acceptor never waits on the pool, only in
  // accept_next(), which sees the stop by itself.

  // Load shedding: accept at once, and queue the connection only if there is
  // room now. try_submit() never waits and leaves a refused task with us.
  while (auto accepted = cs::accept_next(listener.get(), stop)) {
    const std::string peer = accepted->peer.to_string();
    ConnectionTask task{std::move(*accepted), Clock::now(), options, stop, stats};
    const part3::SubmitResult result = pool.try_submit(std::move(task));
    if (result == part3::SubmitResult::accepted) {
      cs::log_info("accepted ", peer);  // not task.client.peer: the task has moved into the pool
    } else if (result == part3::SubmitResult::full) {
      refuse(task.client);
      ++refused;
    } else {
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
