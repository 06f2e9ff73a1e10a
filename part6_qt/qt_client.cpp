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
#include <memory>
#include <string>
#include <vector>

#include "cs/load_client.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "client/client_connection.hpp"
#include "qt_main.hpp"

namespace {

// The shared load-client command line (cs/load_client.hpp), qt-client's
// own options, and the ClientConnection settings made of them in main().
struct Settings {
  cs::LoadClientOptions load;
  part6::ClientSettings client;
  bool quiet = false;
};

int run(Settings& settings, char* program) {
  part6::Application app(program);

  part6::RequestBudget budget{settings.load.requests, 0};
  std::vector<std::unique_ptr<part6::ClientConnection>> connections;
  unsigned running = settings.load.clients;
  QElapsedTimer clock;
  qint64 last_completion_ns = 0;
  for (unsigned id = 0; id < settings.load.clients; ++id) {
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
  if (settings.load.requests == 0) {
    QTimer::singleShot(static_cast<int>(settings.load.seconds * 1000), &app, [&] {
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

  const qint64 end_ns = settings.load.requests != 0 ? last_completion_ns
                        : timed_out ? static_cast<qint64>(settings.load.seconds * 1e9)
                                    : clock.nsecsElapsed();
  const double seconds = static_cast<double>(end_ns) / 1e9;
  std::uint64_t ok = 0;
  std::uint64_t errors = 0;
  for (const auto& connection : connections) {
    ok += connection->requests();
    errors += connection->errors();
  }
  // Each connection logs its own errors as they happen: no first error here.
  return cs::report_load_client("qt-client", settings.load, {ok, errors, seconds, {}});
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  CLI::App app("Closed-loop Qt load client for the shift and framed protocols", "qt-client");
  cs::add_load_client_options(app, settings.load);
  app.add_option("--reconnect", settings.client.reconnects,
                 "Failures in a row a connection survives by reconnecting (0: none)")
      ->check(CLI::Range(0u, 1000u))
      ->capture_default_str();
  app.add_flag("--quiet", settings.quiet, "Log warnings and errors only");
  cs::parse_or_exit(app, argc, argv);  // --help: exit 0; a bad argument: exit 2

  if (settings.quiet) cs::set_log_level(cs::LogLevel::warn);
  std::signal(SIGPIPE, SIG_IGN);  // a write to a reset socket must not kill the run
  const cs::LoadClientOptions& load = settings.load;
  settings.client.host = QString::fromStdString(load.host);
  settings.client.port = load.port;
  settings.client.protocol = load.protocol();
  settings.client.payload = load.payload_bytes;
  settings.client.connect_timeout = load.connect_timeout();
  settings.client.request_timeout = load.request_timeout();
  settings.client.split_writes = load.split_writes;
  settings.client.nodelay = load.nodelay;
  return run(settings, argv[0]);
}
