// Exercise part6-2 (refusing_pool.hpp): the starting point queues. It is
// qt_server_pool.cpp's run_server, cut down (tests/exercise_copies.txt keeps
// the two in step).
#include "refusing_pool.hpp"

#include <QEventLoop>
#include <QThreadPool>

#include "cs/bytes.hpp"
#include "cs/stats.hpp"
#include "qt_connection.hpp"
#include "qt_descriptor_budget.hpp"
#include "qt_listener.hpp"
#include "qt_pool_task.hpp"

namespace exercises {

PoolReport run_refusing_pool_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                                    const cs::StopSignal& stop) {
  QEventLoop main_loop;
  cs::ServerStats stats;
  part6::DescriptorServer server;
  part6::StopNotifier stop_notifier(stop);
  part6::DescriptorBudget budget(static_cast<int>(options.threads));
  QThreadPool pool;
  pool.setMaxThreadCount(budget.threads_within(static_cast<int>(options.threads)));
  PoolReport report;

  QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &server,
                   [&](qintptr descriptor) {
    if (!budget.admit(descriptor)) return;
    auto* task = new part6::PoolTask(descriptor, stop, budget, [&](qintptr descriptor) {
      QEventLoop loop;
      part6::QtConnection connection(descriptor, options, stop, stats);
      QObject::connect(&connection, &part6::QtConnection::finished, &loop, &QEventLoop::quit);
      QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &connection,
                       &part6::QtConnection::begin_shutdown);
      connection.start();
      if (!connection.has_finished()) loop.exec();
    });
    // EXERCISE(part6-2): use pool.tryStart(task) instead. When it returns
    // false the task is still yours: send busy_message to task->descriptor()
    // (cs::send_all, cs::as_bytes), delete the task, which closes the socket,
    // and count it in report.refused.
    pool.start(task);
    ++report.submitted;
  });
  QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
    server.close();
    pool.clear();
    main_loop.quit();
  });

  server.adopt(std::move(listener));
  main_loop.exec();
  pool.waitForDone();
  return report;
}

}  // namespace exercises
