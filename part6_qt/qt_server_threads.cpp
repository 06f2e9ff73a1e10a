// Qt thread-per-client server - every client gets a QThread running its own
// event loop.
//
// How it works: the main thread's DescriptorServer accepts and hands the raw
// descriptor to a new QtConnection, which is moved to a new QThread before
// it creates its QTcpSocket, so the socket, its notifiers and its timers all
// belong to the client's thread. When the client leaves, the thread's event
// loop ends, the connection is deleted on its own thread, and the main
// thread joins and deletes the QThread. Its limit: a thread (and its stack)
// per client, as in part 2, and two descriptors per client: its socket and
// the eventfd of its thread's event loop. Qt aborts the whole process when a
// new thread's event loop finds no descriptor, so the server counts them and
// refuses (closes) a client that would need more than RLIMIT_NOFILE allows
// (qt_descriptor_budget.hpp).
// New since qt-server: thread affinity and moveToThread; the stop reaches
// each thread as a queued signal.
//
// Run:  qt-server-threads 9090 --protocol shift
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include <QCoreApplication>
#include <QThread>

#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"
#include "qt_descriptor_budget.hpp"
#include "qt_connection.hpp"
#include "qt_listener.hpp"

namespace {

void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop, char* program) {
  int qt_argc = 1;  // see qt_server.cpp: Qt gets the program name only
  char* qt_argv[] = {program, nullptr};
  QCoreApplication app(qt_argc, qt_argv);

  cs::ServerStats stats;
  part6::DescriptorServer server;
  part6::StopNotifier stop_notifier(stop);
  // Counts the client threads started and not yet joined, and refuses a
  // client whose thread could not get a descriptor for its event loop.
  part6::DescriptorBudget clients(part6::DescriptorBudget::unlimited_threads);
  bool stopping = false;

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &server,
                   [&](qintptr descriptor) {
    if (!clients.admit(descriptor)) return;
    auto* thread = new QThread;
    // No parent: an object with a parent cannot be moved to another thread
    // ("QObject::moveToThread: Cannot move objects with a parent").
    auto* connection = new part6::QtConnection(descriptor, options, stop, stats);
    connection->moveToThread(thread);

    // started() is emitted on the new thread, where the connection now
    // lives, so start() runs there and creates the socket there.
    QObject::connect(thread, &QThread::started, connection, &part6::QtConnection::start);
    // quit() is thread-safe; called directly from the client's thread it
    // ends that thread's event loop without a trip through the main thread.
    QObject::connect(connection, &part6::QtConnection::finished, thread, &QThread::quit,
                     Qt::DirectConnection);
    // finished() is emitted on the ending thread, after its event loop, and
    // the thread still runs deferred deletions: the connection and its
    // socket are deleted on the thread they belong to.
    QObject::connect(thread, &QThread::finished, connection, &QObject::deleteLater);
    // This one is queued to the main thread (the context object lives
    // there): join, delete, and count down.
    QObject::connect(thread, &QThread::finished, &server, [&, thread] {
      thread->wait();
      delete thread;
      if (clients.release() == 0 && stopping) app.quit();
    });
    // Queued into the client's thread: the main thread never calls the
    // connection directly.
    QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, connection,
                     &part6::QtConnection::begin_shutdown);
    thread->start();
  });
  QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
    cs::log_info("stopping: ", clients.admitted(), " client threads get the grace period");
    stopping = true;
    server.close();
    if (clients.admitted() == 0) app.quit();
  });

  server.adopt(cs::listen_tcp(options.host, options.port, options.backlog));
  QCoreApplication::exec();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  part6::install_qt_message_handler();
  cs::CommandLine command_line("qt-server-threads",
                               "Qt thread-per-client TCP server: a QThread for every client");
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("qt-server-threads", [&] { run_server(options, stop, argv[0]); });
}
