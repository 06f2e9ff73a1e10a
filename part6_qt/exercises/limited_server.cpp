// Exercise part6-1 (limited_server.hpp): the starting point serves everyone.
#include "limited_server.hpp"

#include <QCoreApplication>
#include <QEventLoop>

#include "cs/stats.hpp"
#include "qt_connection.hpp"
#include "qt_listener.hpp"

namespace exercises {

LimitedReport run_limited_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                                 unsigned max_clients, const cs::StopSignal& stop) {
  QEventLoop loop;
  cs::ServerStats stats;
  QObject connections;
  part6::DescriptorServer server;
  part6::StopNotifier stop_notifier(stop);
  LimitedReport report;
  unsigned active = 0;
  bool stopping = false;
  (void)max_clients;

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &connections,
                   [&](qintptr descriptor) {
    // EXERCISE(part6-1): with `max_clients` connections already active,
    // close this one at once (part6::close_descriptor), count it in
    // report.refused, and return before a QtConnection is made.
    ++report.served;
    ++active;
    auto* connection = new part6::QtConnection(descriptor, options, stop, stats, &connections);
    QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, connection,
                     &part6::QtConnection::begin_shutdown);
    QObject::connect(connection, &part6::QtConnection::finished, &connections, [&, connection] {
      connection->deleteLater();
      if (--active == 0 && stopping) loop.quit();
    });
    connection->start();
  });
  QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
    stopping = true;
    server.close();
    if (active == 0) loop.quit();
  });

  server.adopt(std::move(listener));
  loop.exec();
  QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
  return report;
}

}  // namespace exercises
