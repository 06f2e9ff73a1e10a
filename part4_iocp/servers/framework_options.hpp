// The command line of the servers in this folder, on top of the one every
// server of the repository shares (cs::CommandLine): --output-limit, as
// epoll-server has it, the translation of the whole into the framework's
// cpf::ServerOptions, and how the servers end a connection for the two
// timeouts. Header-only, like stop_request.hpp.
#pragma once

#include <chrono>
#include <cstddef>

#include <CLI/CLI.hpp>

#include "cpf/connection.hpp"
#include "cpf/server.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"

namespace part4 {

// The options of these servers that cs::ServerOptions does not hold.
struct FrameworkExtras {
  std::size_t output_limit = cpf::default_output_limit;  // --output-limit
};

// Adds --output-limit (the same name, meaning and range as epoll-server's)
// and --threads (I/O threads, default `threads`) and --max-clients;
// `extras` is filled in when the command line is parsed.
inline void add_framework_options(cs::CommandLine& command_line, FrameworkExtras& extras,
                                  unsigned threads) {
  command_line.add_threads_option(threads);
  command_line.add_max_clients_option();
  command_line.app()
      .add_option("--output-limit", extras.output_limit,
                  "Unsent reply bytes at which the server stops reading from a client "
                  "until the client has read enough of them")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
}

// The framework's options from the parsed command line.
inline cpf::ServerOptions framework_options(const cs::ServerOptions& options,
                                            const FrameworkExtras& extras) {
  cpf::ServerOptions framework;
  framework.host = options.host;
  framework.port = options.port;
  framework.backlog = options.backlog;
  framework.threads = options.threads;
  framework.max_connections = options.max_clients;
  framework.idle_timeout = options.idle_timeout;
  // The request deadlines the servers set are --request-timeout-ms ahead:
  // the framework sweeps for them often enough to notice one in time.
  framework.shortest_deadline = options.request_timeout;
  framework.output_limit = extras.output_limit;
  return framework;
}

// The ends for --idle-timeout-ms (on_idle_timeout) and --request-timeout-ms
// (on_deadline): the line every server logs for them (docs/conventions.md,
// "Logging"), then close(). The close is graceful (the replies already
// queued go first) and goes through on_connection_closing like any other,
// so line-server's lingering close applies to it too.
inline void close_idle(cpf::Connection& connection, std::chrono::milliseconds idle_timeout) {
  cs::log_info("closing ", connection.peer(), ": idle for ", idle_timeout.count(), " ms");
  connection.close();
}

inline void close_request_timed_out(cpf::Connection& connection,
                                    std::chrono::milliseconds request_timeout) {
  cs::log_info("closing ", connection.peer(), ": request not complete after ",
               request_timeout.count(), " ms");
  connection.close();
}

}  // namespace part4
