// Qt event-loop server - one thread, one QCoreApplication event loop, every
// client a QTcpSocket on it.
//
// How it works: the listener on the main thread hands each accepted
// descriptor to a QtConnection (qt_connection.hpp), which makes its socket
// and timers on the thread it lives on: here, the main thread. Nothing
// blocks, so one thread serves any number of clients. Its limit: one core,
// and a slow slot (a big computation) stalls every client. New since part
// 5: the same reactor as Asio's, driven by signals and slots.
//
// Run:  qt-server 9090 --protocol framed --idle-timeout-ms 10000
//       qt-client --port 9090 --protocol framed --clients 4 --seconds 3
#include "cs/log.hpp"
#include "cs/stats.hpp"
#include "qt_connection.hpp"
#include "qt_listener.hpp"
#include "qt_main.hpp"

namespace {

// Serves clients until a stop is requested and every connection has ended.
void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop, char* program) {
  part6::Application app(program);
  cs::ServerStats stats;
  part6::DescriptorServer server;
  part6::StopNotifier stop_notifier(stop);
  // After the stop, the main loop ends with the last connection.
  part6::OpenConnections clients(server, stop_notifier);

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &server,
                   [&](qintptr descriptor) {
    clients.opened();
    // Made on the main thread and left there: start() makes its socket here.
    auto* connection = new part6::QtConnection(descriptor, options, stop, stats);
    QObject::connect(connection, &part6::QtConnection::finished, &server, [&, connection] {
      connection->deleteLater();  // not delete: this runs inside one of its socket's signals
      clients.closed();
    });
    // A direct call: the notifier lives on the same thread.
    QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, connection,
                     &part6::QtConnection::begin_shutdown);
    connection->start();
  });

  server.adopt(cs::listen_tcp(options.host, options.port, options.backlog));
  QCoreApplication::exec();
  // The last connection's deleteLater() was posted just before quit().
  QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  return part6::server_main(argc, argv, "qt-server",
                            "Qt event-loop TCP server: one thread serves every client",
                            run_server);
}
