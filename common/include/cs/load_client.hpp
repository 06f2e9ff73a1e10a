// The command line and the report of the closed-loop load clients,
// asio-client (part 5) and qt-client (part 6):
//
//   NAME [PORT] [--port N] [--host ADDR] [--protocol shift|framed]
//        [--clients N] [--seconds S | --requests N] [--payload-bytes N]
//        [--connect-timeout-ms N] [--request-timeout-ms N]
//        [--split-writes] [--nodelay]
//
// Each client adds what only it has (qt-client: --reconnect, --quiet) with
// CLI11 itself. The report is one JSON line on stdout, the same for both, so
// that part 7's scripts read either client the same way, and a summary for
// people on stderr.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cs/options.hpp"  // default_port
#include "cs/session.hpp"  // Protocol

namespace CLI {
class App;
}  // namespace CLI

namespace cs {

struct LoadClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = default_port;
  std::string protocol_name = "shift";
  unsigned clients = 1;        // connections, each with one request at a time
  double seconds = 10;         // how long to send (the published benchmark's 10 s)
  std::uint64_t requests = 0;  // stop after this many in all instead; 0 = use seconds
  std::size_t payload_bytes = 64;
  long long connect_timeout_ms = 2000;
  long long request_timeout_ms = 5000;
  bool split_writes = false;  // header and body as two writes (Nagle meets delayed ACK)
  bool nodelay = false;       // TCP_NODELAY on each client socket

  Protocol protocol() const {
    return protocol_name == "framed" ? Protocol::framed : Protocol::shift;
  }
  std::chrono::milliseconds connect_timeout() const {
    return std::chrono::milliseconds(connect_timeout_ms);
  }
  std::chrono::milliseconds request_timeout() const {
    return std::chrono::milliseconds(request_timeout_ms);
  }
};

// Registers the options above on `app`, with their ranges and defaults.
void add_load_client_options(CLI::App& app, LoadClientOptions& options);

struct LoadClientTotals {
  std::uint64_t ok = 0;      // replies that were the request plus one
  std::uint64_t errors = 0;  // requests that failed (timeout, wrong reply, lost connection)
  double seconds = 0;        // the run's length: the clock, or the last completion
  std::string first_error;   // empty when the client logs its errors itself
};

// Prints the JSON line (stdout) and the summary (stderr), then returns the
// exit status: 0 when every request succeeded and at least one did, else 1.
int report_load_client(const std::string& program, const LoadClientOptions& options,
                       const LoadClientTotals& totals);

}  // namespace cs
