// One accepted client as a QThreadPool task; see qt_pool_task.hpp.
#include "qt_pool_task.hpp"

#include <exception>
#include <utility>

#include "cs/log.hpp"
#include "qt_listener.hpp"

namespace part6 {

PoolTask::PoolTask(qintptr descriptor, const cs::StopSignal& stop, DescriptorBudget& clients,
                   Serve serve)
    : descriptor_(descriptor),
      stop_(stop),
      clients_(clients),
      serve_(std::move(serve)),
      accepted_at_(std::chrono::steady_clock::now()) {
  handed_over_.store(true, std::memory_order_release);  // last: see the header
}

PoolTask::~PoolTask() {
  if (descriptor_ >= 0) {
    // A stop came before a pool thread was free, or the caller kept the task.
    cs::log_info("closing a queued client: no pool thread served it");
    close_descriptor(descriptor_);
  }
  clients_.release();
}

void PoolTask::run() {
  if (!handed_over_.load(std::memory_order_acquire)) std::terminate();
  if (stop_.stop_requested()) return;
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - accepted_at_);
  cs::log_debug("a pool thread took a client after ", waited.count(), " ms in the queue");
  serve_(std::exchange(descriptor_, -1));
}

}  // namespace part6
