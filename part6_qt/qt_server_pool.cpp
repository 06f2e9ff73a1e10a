// Qt thread-pool server - a QThreadPool of --threads threads; each running
// connection is a QRunnable that spins its own QEventLoop.
//
// How it works: the main thread accepts and submits a ConnectionTask to the
// pool. A pool thread runs it: it creates the QtConnection there (so it
// lives on that thread) and runs a QEventLoop until the client leaves. Its
// limit, inherent to this design: a connection holds its pool thread for its
// whole life, so --threads is the number of clients served at once. Further
// connections are accepted but wait, ungreeted, in the pool's queue until a
// thread frees (a silent client holds a thread until --idle-timeout-ms).
// Each pool thread's event loop owns an eventfd and each client, queued or
// served, its socket: clients beyond what RLIMIT_NOFILE holds are refused,
// or the next pool thread would find no descriptor for its loop and Qt
// would end the process (qt_descriptor_budget.hpp).
// New since qt-server-threads: threads are reused, and a QRunnable is not a
// QObject, so the stop reaches it through the QObject it creates.
//
// Run:  qt-server-pool 9090 --threads 2 --idle-timeout-ms 5000
//       python3 simulator run -n 3 --address 127.0.0.1:9090
#include <QCoreApplication>
#include <QEventLoop>
#include <QRunnable>
#include <QThreadPool>

#include <atomic>
#include <chrono>
#include <exception>

#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"
#include "qt_descriptor_budget.hpp"
#include "qt_connection.hpp"
#include "qt_listener.hpp"

namespace {

// The number of clients served at once (see above); queued clients are not
// greeted until a thread is free.
constexpr unsigned default_threads = 16;

using Clock = std::chrono::steady_clock;

// One accepted connection, waiting in the pool's queue or being served.
// Owns the descriptor until run() hands it to a QtConnection; a task the
// pool drops unstarted (QThreadPool::clear() on shutdown) closes it in the
// destructor, ungreeted. Either way the client leaves the descriptor budget
// when the task is deleted, its socket closed.
class ConnectionTask : public QRunnable {
 public:
  ConnectionTask(qintptr descriptor, const cs::ServerOptions& options, const cs::StopSignal& stop,
                 cs::ServerStats& stats, const part6::StopNotifier& stop_notifier,
                 part6::DescriptorBudget& clients)
      : descriptor_(descriptor),
        options_(options),
        stop_(stop),
        stats_(stats),
        stop_notifier_(stop_notifier),
        clients_(clients),
        accepted_at_(Clock::now()) {}

  ~ConnectionTask() override {
    if (descriptor_ >= 0) {
      cs::log_info("closing a queued client: shutting down before a pool thread was free");
      part6::close_descriptor(descriptor_);
    }
    clients_.release();
  }

  // Called by the main thread just before QThreadPool::start(). The pool
  // hands the task to a thread under QMutex, which ThreadSanitizer cannot
  // see (Qt is not instrumented); this release, and the acquire at the top
  // of run(), state the same ordering in a form it can check.
  void hand_over() { handed_over_.store(true, std::memory_order_release); }

  void run() override {
    if (!handed_over_.load(std::memory_order_acquire)) std::terminate();
    if (stop_.stop_requested()) return;  // the destructor closes it, unserved
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - accepted_at_);
    cs::log_debug("a pool thread took a client after ", waited.count(), " ms in the queue");

    // Created on this pool thread, so it lives here, and so do the socket
    // and timers it creates; the QEventLoop delivers their events.
    QEventLoop loop;
    part6::QtConnection connection(std::exchange(descriptor_, -1), options_, stop_, stats_);
    bool finished = false;
    QObject::connect(&connection, &part6::QtConnection::finished, &loop, [&] {
      finished = true;
      loop.quit();
    });
    // The shutdown mechanism. The runnable cannot receive a signal, but
    // `connection` can: the notifier lives on the main thread, so this
    // connection is queued, and Qt posts begin_shutdown() into this thread's
    // event loop. A stop emitted before this line is not missed: the flag
    // is set before the notifier fires, and start() checks it.
    QObject::connect(&stop_notifier_, &part6::StopNotifier::stopRequested, &connection,
                     &part6::QtConnection::begin_shutdown);
    connection.start();
    // quit() before exec() would be forgotten, so a connection that ended
    // inside start() must not enter the loop.
    if (!finished) loop.exec();
  }

 private:
  qintptr descriptor_;
  const cs::ServerOptions& options_;
  const cs::StopSignal& stop_;
  cs::ServerStats& stats_;
  const part6::StopNotifier& stop_notifier_;
  part6::DescriptorBudget& clients_;
  Clock::time_point accepted_at_;
  std::atomic<bool> handed_over_{false};
};

void run_server(const cs::ServerOptions& options, const cs::StopSignal& stop, char* program) {
  int qt_argc = 1;  // see qt_server.cpp: Qt gets the program name only
  char* qt_argv[] = {program, nullptr};
  QCoreApplication app(qt_argc, qt_argv);

  cs::ServerStats stats;
  part6::StopNotifier stop_notifier(stop);
  // Declared before the pool: the tasks the pool deletes release from it.
  part6::DescriptorBudget clients(static_cast<int>(options.threads));
  QThreadPool pool;  // our own, not globalInstance(): its size is the limit
  pool.setMaxThreadCount(clients.threads_within(static_cast<int>(options.threads)));
  part6::DescriptorServer server;

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &server,
                   [&](qintptr descriptor) {
                     if (!clients.admit(descriptor)) return;
                     if (pool.activeThreadCount() >= pool.maxThreadCount()) {
                       cs::log_info("every pool thread is busy: the new client waits in the queue");
                     }
                     // start() never blocks: with every thread busy the task
                     // waits in the pool's (unbounded) queue. The pool deletes it.
                     auto* task = new ConnectionTask(descriptor, options, stop, stats,
                                                     stop_notifier, clients);
                     task->hand_over();
                     pool.start(task);
                   });
  QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
    cs::log_info("stopping: running connections get the grace period");
    server.close();
    pool.clear();  // deletes the queued tasks, which close their sockets
    app.quit();
  });

  server.adopt(cs::listen_tcp(options.host, options.port, options.backlog));
  QCoreApplication::exec();
  // Every running task got begin_shutdown() queued to it and ends by the
  // shared grace deadline.
  pool.waitForDone();
  cs::write_log_line(cs::LogLevel::info, "stopped: " + stats.summary());  // even with --quiet
}

}  // namespace

int main(int argc, char** argv) {
  part6::install_qt_message_handler();
  cs::CommandLine command_line("qt-server-pool",
                               "Qt thread-pool TCP server: QThreadPool + QRunnable, "
                               "a QEventLoop per connection; --threads clients at once");
  command_line.add_threads_option(default_threads);
  const cs::ServerOptions options = command_line.parse(argc, argv);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);
  return cs::run_guarded("qt-server-pool", [&] { run_server(options, stop, argv[0]); });
}
