// Exercise part6-2 (refusing_pool.hpp): the starting point queues. Its Task
// is a copy of qt_server_pool.cpp's (tests/exercise_copies.txt keeps the two in
// step).
#include "refusing_pool.hpp"

#include <QEventLoop>
#include <QRunnable>
#include <QThreadPool>

#include <atomic>
#include <exception>
#include <utility>

#include "cs/stats.hpp"
#include "qt_connection.hpp"
#include "qt_listener.hpp"

namespace exercises {

namespace {

// qt-server-pool's ConnectionTask, cut down: serves one connection on a
// pool thread with its own QEventLoop; closes the socket if never run.
class Task : public QRunnable {
 public:
  Task(qintptr descriptor, const cs::ServerOptions& options, const cs::StopSignal& stop,
       cs::ServerStats& stats, const part6::StopNotifier& notifier)
      : descriptor_(descriptor), options_(options), stop_(stop), stats_(stats), notifier_(notifier) {}
  ~Task() override { part6::close_descriptor(descriptor_); }

  // For a task no thread took: sends `message` and closes the socket.
  void refuse(std::string_view message) {
    cs::send_all(static_cast<int>(descriptor_),
                 cs::ByteView(reinterpret_cast<const cs::Byte*>(message.data()), message.size()));
    part6::close_descriptor(std::exchange(descriptor_, -1));
  }

  // See qt-server-pool's ConnectionTask: makes the hand-over through the
  // pool visible to ThreadSanitizer.
  void hand_over() { handed_over_.store(true, std::memory_order_release); }

  void run() override {
    if (!handed_over_.load(std::memory_order_acquire)) std::terminate();
    if (stop_.stop_requested()) return;
    QEventLoop loop;
    part6::QtConnection connection(std::exchange(descriptor_, -1), options_, stop_, stats_);
    bool finished = false;
    QObject::connect(&connection, &part6::QtConnection::finished, &loop, [&] {
      finished = true;
      loop.quit();
    });
    QObject::connect(&notifier_, &part6::StopNotifier::stopRequested, &connection,
                     &part6::QtConnection::begin_shutdown);
    connection.start();
    if (!finished) loop.exec();
  }

 private:
  qintptr descriptor_;
  const cs::ServerOptions& options_;
  const cs::StopSignal& stop_;
  cs::ServerStats& stats_;
  const part6::StopNotifier& notifier_;
  std::atomic<bool> handed_over_{false};
};

}  // namespace

PoolReport run_refusing_pool_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                                    const cs::StopSignal& stop) {
  QEventLoop loop;
  cs::ServerStats stats;
  part6::StopNotifier stop_notifier(stop);
  QThreadPool pool;
  pool.setMaxThreadCount(static_cast<int>(options.threads));
  part6::DescriptorServer server;
  PoolReport report;

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &server,
                   [&](qintptr descriptor) {
    auto* task = new Task(descriptor, options, stop, stats, stop_notifier);
    task->hand_over();
    // EXERCISE(part6-2): use pool.tryStart(task) instead. When it returns
    // false the task is still yours: task->refuse(busy_message), delete it,
    // and count it in report.refused.
    pool.start(task);
    ++report.submitted;
  });
  QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
    server.close();
    pool.clear();
    loop.quit();
  });

  server.adopt(std::move(listener));
  loop.exec();
  pool.waitForDone();
  return report;
}

}  // namespace exercises
