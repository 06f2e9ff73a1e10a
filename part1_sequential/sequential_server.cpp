// Sequential socket server - serves one client at a time, to completion,
// then accepts the next.
//
// How it works: one thread accepts a connection and runs serve_connection()
// until that client leaves; meanwhile later clients wait in the kernel's
// listen backlog, connected but unanswered (they do not even get the shift
// greeting). Its limit is the lesson of this chapter: one slow or silent
// client stalls everyone behind it (--idle-timeout-ms bounds for how long).
// The protocol (cs::Session) and the connection loop (cs::serve_connection)
// live in common/, so this file is only the concurrency model; the next
// chapters change run_server and nothing else.
//
// Run:  sequential-server 9090 --protocol shift
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include "cs/acceptor.hpp"
#include "cs/connection.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/serve_connection.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"

namespace {

// Accepts clients one after another until a stop is requested.
void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop) {
  cs::FileDescriptor listener = cs::listen_tcp(options.host, options.port, options.backlog);
  cs::announce_listening(cs::local_endpoint(listener.get()));
  cs::ServerStats stats;

  while (auto accepted = cs::accept_next(listener.get(), stop)) {
    cs::log_info("accepted ", accepted->peer.to_string());
    cs::BlockingConnection client(std::move(accepted->fd), accepted->peer, stop,
                                  options.connection_policy());
    cs::serve_connection(client, options, stats);
  }

  // Clients still waiting in the backlog were never accepted: closing the
  // listener resets them, so they fail at once instead of hanging.
  listener.reset();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  cs::CommandLine command_line("sequential-server", "Sequential TCP server: one client at a time");
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("sequential-server", [&] { run_server(options, stop); });
}
