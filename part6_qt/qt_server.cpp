// Qt event-loop server - one thread, one QCoreApplication event loop, every
// client a QTcpSocket on it.
//
// How it works: a DescriptorServer accepts; each connection is a QtConnection
// (qt_connection.hpp) whose slots run when its socket has bytes, has written
// bytes, or its timers fire. Nothing blocks, so one thread serves any number
// of clients, and no state is shared between threads. Its limit: one core,
// and a slow slot (a big computation) stalls every client. New since part 5:
// the same reactor as Asio's io_context, but driven by signals and slots, and
// the stop arrives as a QSocketNotifier event on the StopSignal's pipe.
//
// Run:  qt-server 9090 --protocol framed --idle-timeout-ms 10000
//       qt-client --port 9090 --protocol framed --clients 4 --seconds 3
#include <QCoreApplication>

#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"
#include "qt_connection.hpp"
#include "qt_listener.hpp"

namespace {

void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop, char* program) {
  // Qt gets only the program name: the arguments were parsed already, and
  // Qt would otherwise act on some of them (-platform, -reverse, ...). It
  // keeps a reference to argc, which must outlive the application object.
  int qt_argc = 1;
  char* qt_argv[] = {program, nullptr};
  QCoreApplication app(qt_argc, qt_argv);

  cs::ServerStats stats;
  QObject connections;  // parent of every live connection
  part6::DescriptorServer server;
  part6::StopNotifier stop_notifier(stop);
  int active = 0;
  bool stopping = false;

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &connections,
                   [&](qintptr descriptor) {
                     auto* connection =
                         new part6::QtConnection(descriptor, options, stop, stats, &connections);
                     ++active;
                     QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested,
                                      connection, &part6::QtConnection::begin_shutdown);
                     QObject::connect(connection, &part6::QtConnection::finished, &connections,
                                      [&, connection] {
                                        // Not `delete`: we are inside one of its
                                        // socket's signals.
                                        connection->deleteLater();
                                        if (--active == 0 && stopping) app.quit();
                                      });
                     connection->start();
                   });
  QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
    cs::log_info("stopping: ", active, " connections get the grace period");
    stopping = true;
    server.close();  // clients still in the backlog are reset now
    if (active == 0) app.quit();
  });

  server.adopt(cs::listen_tcp(options.host, options.port, options.backlog));
  QCoreApplication::exec();
  // The last connection's deleteLater() was posted just before quit().
  QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  part6::install_qt_message_handler();
  cs::CommandLine command_line("qt-server",
                               "Qt event-loop TCP server: one thread serves every client");
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("qt-server", [&] { run_server(options, stop, argv[0]); });
}
