// qt-client - a closed-loop load tool over ClientConnection
// (client/client_connection.hpp), the Qt twin of part 5's asio-client.
//
// Each of --clients connections sends a request, waits for its reply, checks
// it, and sends the next, for --seconds (default 10) or until --requests
// replies in all. All connections share the main thread's event loop; a
// QTimer ends a timed run, and a request in flight then is not counted. The
// totals go to stdout as one JSON line in asio-client's format, so the
// benchmarks read both the same way; a human summary and errors go to
// stderr. Exit status: 0 when every request succeeded, 1 otherwise, 2 for a
// bad argument.
//
// Run:  qt-client 9090 --protocol framed --clients 10 --seconds 3
//       qt-client 9090 --host no-such-host.invalid --requests 1   # lookup failure
#include <CLI/CLI.hpp>

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QTimer>

#include <csignal>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cs/log.hpp"
#include "client/client_connection.hpp"
#include "qt_main.hpp"

namespace {

struct Settings {
  part6::ClientSettings client;
  std::string host = "127.0.0.1";
  int port = 9090;
  std::string protocol = "shift";
  unsigned clients = 1;
  double seconds = 10;
  std::uint64_t requests = 0;  // 0: run for `seconds` instead
  long long connect_timeout_ms = 2000;
  long long request_timeout_ms = 5000;
  bool quiet = false;
};

int run(Settings& settings, char* program) {
  part6::Application app(program);

  part6::RequestBudget budget{settings.requests, 0};
  std::vector<std::unique_ptr<part6::ClientConnection>> connections;
  unsigned running = settings.clients;
  QElapsedTimer clock;
  qint64 last_completion_ns = 0;
  for (unsigned id = 0; id < settings.clients; ++id) {
    auto connection =
        std::make_unique<part6::ClientConnection>(settings.client, budget, static_cast<int>(id));
    QObject::connect(connection.get(), &part6::ClientConnection::completed, &app,
                     [&] { last_completion_ns = clock.nsecsElapsed(); });
    QObject::connect(connection.get(), &part6::ClientConnection::finished, &app, [&] {
      if (--running == 0) QCoreApplication::quit();
    });
    connections.push_back(std::move(connection));
  }
  bool timed_out = false;
  if (settings.requests == 0) {
    QTimer::singleShot(static_cast<int>(settings.seconds * 1000), &app, [&] {
      timed_out = true;
      for (auto& connection : connections) connection->stop();
    });
  }
  // Started from inside the event loop, so that a connection failing at
  // once cannot call quit() before exec() runs.
  QTimer::singleShot(0, &app, [&] {
    clock.start();
    for (auto& connection : connections) connection->start();
  });
  QCoreApplication::exec();

  const qint64 end_ns = settings.requests != 0 ? last_completion_ns
                        : timed_out            ? static_cast<qint64>(settings.seconds * 1e9)
                                               : clock.nsecsElapsed();
  const double seconds = static_cast<double>(end_ns) / 1e9;
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;
  for (const auto& connection : connections) {
    ok += connection->requests();
    errors += connection->errors();
  }
  const double rate = seconds > 0 ? static_cast<double>(ok) / seconds : 0;

  std::ostringstream json;
  json.setf(std::ios::fixed);
  json.precision(3);
  json << "{\"requests\": " << ok << ", \"errors\": " << errors << ", \"seconds\": " << seconds
       << ", \"requests_per_second\": " << rate << ", \"clients\": " << settings.clients
       << ", \"protocol\": \"" << settings.protocol << "\", \"payload_bytes\": "
       << settings.client.payload << ", \"split_writes\": "
       << (settings.client.split_writes ? "true" : "false")
       << ", \"nodelay\": " << (settings.client.nodelay ? "true" : "false") << "}";
  std::cout << json.str() << std::endl;
  std::cerr << "qt-client: " << ok << " requests in " << seconds << " s from " << settings.clients
            << " connection(s): " << rate << " requests/s, " << errors << " error(s)\n";
  return errors == 0 && ok > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  unsigned reconnects = 3;
  std::size_t payload_bytes = 64;
  CLI::App app("Closed-loop Qt load client for the shift and framed protocols", "qt-client");
  app.add_option("port,--port", settings.port, "Server port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--host", settings.host, "Server host name or address")->capture_default_str();
  app.add_option("--protocol", settings.protocol, "Protocol to speak")
      ->check(CLI::IsMember({"shift", "framed"}))
      ->capture_default_str();
  app.add_option("--clients", settings.clients, "Connections, each with one request at a time")
      ->check(CLI::Range(1u, 10'000u))
      ->capture_default_str();
  app.add_option("--seconds", settings.seconds, "How long to send requests")
      ->check(CLI::Range(0.001, 86'400.0))
      ->capture_default_str();
  app.add_option("--requests", settings.requests,
                 "Stop after this many requests in all instead of after --seconds");
  app.add_option("--payload-bytes", payload_bytes, "Bytes per request")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--connect-timeout-ms", settings.connect_timeout_ms,
                 "Host lookup plus TCP handshake must finish within this")
      ->check(CLI::Range(1LL, 600'000LL))
      ->capture_default_str();
  app.add_option("--request-timeout-ms", settings.request_timeout_ms,
                 "Each reply (and the shift greeting) must come within this")
      ->check(CLI::Range(1LL, 600'000LL))
      ->capture_default_str();
  app.add_option("--reconnect", reconnects,
                 "Failures in a row a connection survives by reconnecting (0: none)")
      ->check(CLI::Range(0u, 1000u))
      ->capture_default_str();
  app.add_flag("--split-writes", settings.client.split_writes,
               "Send each request's header and body as two writes (to show Nagle + delayed ACK)");
  app.add_flag("--nodelay", settings.client.nodelay, "Set TCP_NODELAY (turn Nagle's algorithm off)");
  app.add_flag("--quiet", settings.quiet, "Log warnings and errors only");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int status = app.exit(error);
    return status == 0 ? 0 : 2;
  }

  if (settings.quiet) cs::set_log_level(cs::LogLevel::warn);
  std::signal(SIGPIPE, SIG_IGN);  // a write to a reset socket must not kill the run
  settings.client.host = QString::fromStdString(settings.host);
  settings.client.port = static_cast<quint16>(settings.port);
  settings.client.protocol =
      settings.protocol == "framed" ? cs::Protocol::framed : cs::Protocol::shift;
  settings.client.payload = payload_bytes;
  settings.client.connect_timeout = std::chrono::milliseconds(settings.connect_timeout_ms);
  settings.client.request_timeout = std::chrono::milliseconds(settings.request_timeout_ms);
  settings.client.reconnects = reconnects;
  return run(settings, argv[0]);
}
