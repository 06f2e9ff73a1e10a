// Qt thread-per-client server - every client gets a QThread running its own
// event loop.
//
// How it works: the listener on the main thread hands each accepted
// descriptor to a QtConnection (qt_connection.hpp), which makes its socket
// and timers on the thread it lives on: a new QThread of its own, which the
// main thread joins when the client leaves. Its limit: a thread per client,
// as in part 2, each with an eventfd for its loop (qt_descriptor_budget.hpp
// counts them). New since qt-server: moveToThread, and queued signals.
//
// Run:  qt-server-threads 9090 --protocol framed
//       qt-client --port 9090 --protocol framed --clients 4 --seconds 3
#include <QThread>

#include "cs/log.hpp"
#include "cs/stats.hpp"
#include "qt_connection.hpp"
#include "qt_descriptor_budget.hpp"
#include "qt_listener.hpp"
#include "qt_main.hpp"

namespace {

// Serves clients until a stop is requested and every connection has ended.
void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop, char* program) {
  part6::Application app(program);
  cs::ServerStats stats;
  part6::DescriptorServer server;
  part6::StopNotifier stop_notifier(stop);
  // Refuses a client whose thread could get no descriptor for its event loop.
  part6::DescriptorBudget budget(part6::DescriptorBudget::unlimited_threads);
  // After the stop, the main loop ends with the last connection.
  part6::OpenConnections clients(server, stop_notifier);

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &server,
                   [&](qintptr descriptor) {
    if (!budget.admit(descriptor)) return;
    clients.opened();
    auto* thread = new QThread;
    // No parent (an object with one cannot be moved), and moved before its
    // start() makes the socket: both live on the client's thread.
    auto* connection = new part6::QtConnection(descriptor, options, stop, stats);
    connection->moveToThread(thread);
    QObject::connect(thread, &QThread::started, connection, &part6::QtConnection::start);
    // quit() is thread-safe: called on the client's thread, it ends its loop.
    QObject::connect(connection, &part6::QtConnection::finished, thread, &QThread::quit,
                     Qt::DirectConnection);
    // Emitted on the ending thread after its loop, which still runs deferred
    // deletions: the connection is deleted where it lives.
    QObject::connect(thread, &QThread::finished, connection, &QObject::deleteLater);
    // Queued to the main thread, where the QThread object lives.
    QObject::connect(thread, &QThread::finished, &server, [&, thread] {
      thread->wait();
      delete thread;
      budget.release();
      clients.closed();
    });
    // A queued call, into the client's thread.
    QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, connection,
                     &part6::QtConnection::begin_shutdown);
    thread->start();
  });

  server.adopt(cs::listen_tcp(options.host, options.port, options.backlog));
  QCoreApplication::exec();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  return part6::server_main(argc, argv, "qt-server-threads",
                            "Qt thread-per-client TCP server: a QThread for every client",
                            run_server);
}
