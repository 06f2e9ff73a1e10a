// Threaded socket server - accepts multiple clients concurrently, by creating
// a new thread for each connecting client.
//
// How it works: the main thread only accepts; each client gets its own
// std::thread running part 1's cs::serve_connection(), so a slow or
// silent client now blocks only its own thread. The threads are tracked
// (client_threads.hpp): finished ones are joined as the server goes, and on
// SIGTERM the server stops accepting and joins every thread once its client
// leaves or the shutdown grace period ends. Its limit: a thread per client
// costs memory and scheduling, and idle clients can take every thread there
// is; --max-clients N caps them (at the cap, new clients wait in the
// kernel's backlog). New since part 1: only run_server.
//
// Run:  threaded-server 9090 --protocol shift [--max-clients 100]
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include <system_error>

#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/serve_connection.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"

#include "client_threads.hpp"

namespace {

// Accepts clients and serves each on its own thread until a stop is
// requested, then waits for every thread.
void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop) {
  cs::FileDescriptor listener = cs::listen_tcp(options.host, options.port, options.backlog);
  cs::announce_listening(cs::local_endpoint(listener.get()));
  cs::ServerStats stats;
  part2::ClientThreads threads(options.max_clients);  // after stats: joined before it goes

  while (threads.wait_for_client(listener.get(), stop)) {
    auto accepted = cs::accept_next(listener.get(), stop);
    if (!accepted) break;
    cs::log_info("accepted ", accepted->peer.to_string());
    cs::BlockingConnection client(std::move(accepted->fd), accepted->peer, stop,
                                  options.connection_policy());
    try {
      // The thread owns the connection; options, stop and stats outlive
      // every thread, because join_all() below waits for them all.
      threads.start([&options, &stats, client = std::move(client)]() mutable {
        cs::serve_connection(client, options, stats);
      });
    } catch (const std::system_error& error) {
      // Out of threads (EAGAIN) or memory: this client's socket is already
      // closed; the server carries on with the clients it has.
      cs::log_error("cannot start a thread for ", accepted->peer.to_string(), ": ",
                    error.what(), "; closed it");
    }
  }

  // Clients still waiting in the backlog were never accepted: closing the
  // listener resets them, so they fail at once instead of hanging.
  listener.reset();
  // Every connection ends by the shared grace deadline (its
  // BlockingConnection sees the stop), so this wait is bounded.
  threads.join_all();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("threaded-server", "Threaded TCP server: a thread per client");
  command_line.add_max_clients_option();
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("threaded-server", [&] { run_server(options, stop); });
}
