// Qt thread-pool server - a QThreadPool of --threads threads; each running
// connection is a QRunnable that spins its own QEventLoop.
//
// How it works: the listener on the main thread hands each accepted
// descriptor to a QtConnection (qt_connection.hpp), which makes its socket
// and timers on the thread it lives on: the pool thread that takes the
// client's task (qt_pool_task.hpp) from the queue, in a QEventLoop of its
// own. Its limit: a connection holds its pool thread for its whole life, so
// --threads is the number of clients served at once; the next ones wait,
// ungreeted, in the pool's queue. New since qt-server-threads: threads are
// reused, and a task is no QObject, so the stop reaches the connection.
//
// Run:  qt-server-pool 9090 --protocol framed --threads 4
//       qt-client --port 9090 --protocol framed --clients 4 --seconds 3
#include <QEventLoop>
#include <QThreadPool>

#include "cs/log.hpp"
#include "cs/stats.hpp"
#include "qt_connection.hpp"
#include "qt_descriptor_budget.hpp"
#include "qt_listener.hpp"
#include "qt_main.hpp"
#include "qt_pool_task.hpp"

namespace {

// The number of clients served at once (see above).
constexpr unsigned default_threads = 16;

// Serves clients until a stop is requested and every connection has ended.
void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop, char* program) {
  part6::Application app(program);
  cs::ServerStats stats;
  part6::DescriptorServer server;
  part6::StopNotifier stop_notifier(stop);
  // Counts each client's socket and each pool thread's eventfd; declared
  // before the pool, whose tasks release from it when deleted.
  part6::DescriptorBudget budget(static_cast<int>(options.threads));
  QThreadPool pool;  // our own, not globalInstance(): its size is the limit
  pool.setMaxThreadCount(budget.threads_within(static_cast<int>(options.threads)));

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &server,
                   [&](qintptr descriptor) {
    if (!budget.admit(descriptor)) return;
    if (pool.activeThreadCount() >= pool.maxThreadCount()) {
      cs::log_info("every pool thread is busy: the new client waits in the queue");
    }
    // start() never blocks: the task holds the descriptor in the pool's
    // queue until a thread runs the lambda with it. The pool deletes it.
    pool.start(new part6::PoolTask(descriptor, stop, budget, [&](qintptr descriptor) {
      // On that pool thread: the connection is made here, so it lives here.
      QEventLoop loop;
      part6::QtConnection connection(descriptor, options, stop, stats);
      QObject::connect(&connection, &part6::QtConnection::finished, &loop, &QEventLoop::quit);
      // A queued call, into this thread's loop.
      QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &connection,
                       &part6::QtConnection::begin_shutdown);
      connection.start();
      if (!connection.has_finished()) loop.exec();  // a quit() before exec() is lost
    }));
  });
  QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
    cs::log_info("stopping: running connections get the grace period");
    server.close();  // clients still in the backlog are reset now
    pool.clear();    // deletes the queued tasks, which close their sockets
    app.quit();
  });

  server.adopt(cs::listen_tcp(options.host, options.port, options.backlog));
  QCoreApplication::exec();
  // The running connections end by the shared grace deadline.
  pool.waitForDone();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  return part6::server_main(argc, argv, "qt-server-pool",
                            "Qt thread-pool TCP server: QThreadPool + QRunnable, a QEventLoop "
                            "per connection; --threads clients at once",
                            run_server, default_threads);
}
