#include "cs/load_client.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>

namespace cs {

void add_load_client_options(CLI::App& app, LoadClientOptions& options) {
  app.add_option("port,--port", options.port, "Server port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--host", options.host, "Server host name or address")->capture_default_str();
  app.add_option("--protocol", options.protocol_name, "Protocol to speak")
      ->check(CLI::IsMember({"shift", "framed"}))
      ->capture_default_str();
  app.add_option("--clients", options.clients, "Connections, each with one request at a time")
      ->check(CLI::Range(1u, 10'000u))
      ->capture_default_str();
  app.add_option("--seconds", options.seconds, "How long to send requests")
      ->check(CLI::Range(0.001, 86'400.0))
      ->capture_default_str();
  app.add_option("--requests", options.requests,
                 "Stop after this many requests in all instead of after --seconds");
  app.add_option("--payload-bytes", options.payload_bytes, "Bytes per request")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--connect-timeout-ms", options.connect_timeout_ms,
                 "Host lookup plus TCP handshake must finish within this")
      ->check(CLI::Range(1LL, 600'000LL))
      ->capture_default_str();
  app.add_option("--request-timeout-ms", options.request_timeout_ms,
                 "Each reply (and the shift greeting) must come within this")
      ->check(CLI::Range(1LL, 600'000LL))
      ->capture_default_str();
  app.add_flag("--split-writes", options.split_writes,
               "Send each request's header and body as two writes (to show Nagle + delayed ACK)");
  app.add_flag("--nodelay", options.nodelay, "Set TCP_NODELAY (turn Nagle's algorithm off)");
}

int report_load_client(const std::string& program, const LoadClientOptions& options,
                       const LoadClientTotals& totals) {
  const double rate = totals.seconds > 0 ? static_cast<double>(totals.ok) / totals.seconds : 0;
  std::ostringstream json;
  json.setf(std::ios::fixed);
  json.precision(3);
  json << "{\"requests\": " << totals.ok << ", \"errors\": " << totals.errors
       << ", \"seconds\": " << totals.seconds << ", \"requests_per_second\": " << rate
       << ", \"clients\": " << options.clients << ", \"protocol\": \"" << options.protocol_name
       << "\", \"payload_bytes\": " << options.payload_bytes
       << ", \"split_writes\": " << (options.split_writes ? "true" : "false")
       << ", \"nodelay\": " << (options.nodelay ? "true" : "false") << "}";
  std::cout << json.str() << std::endl;

  std::cerr << program << ": " << totals.ok << " requests in " << totals.seconds << " s from "
            << options.clients << " connection(s): " << rate << " requests/s, " << totals.errors
            << " error(s)\n";
  if (totals.errors > 0 && !totals.first_error.empty()) {
    std::cerr << program << ": first error: " << totals.first_error << "\n";
  }
  return totals.errors == 0 && totals.ok > 0 ? 0 : 1;
}

}  // namespace cs
