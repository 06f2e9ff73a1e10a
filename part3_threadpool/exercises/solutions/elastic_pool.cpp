// Exercise part3-1, reference solution: the elastic pool; the contract is
// in elastic_pool.hpp.
#include "elastic_pool.hpp"

#include <exception>
#include <stdexcept>
#include <utility>

#include "cs/log.hpp"

namespace exercises {

ElasticPool::ElasticPool(ElasticPoolLimits limits) : limits_(limits) {
  if (limits_.min_workers < 1 || limits_.max_workers < limits_.min_workers ||
      limits_.queue_capacity < 1) {
    throw std::invalid_argument("ElasticPool needs 1 <= min_workers <= max_workers and a queue");
  }
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < limits_.min_workers; ++i) start_worker();
}

ElasticPool::~ElasticPool() { shutdown(); }

void ElasticPool::start_worker() {
  const std::uint64_t id = next_id_++;
  // The new thread first locks mutex_, which the caller holds, so it cannot
  // look itself up in workers_ before it is there.
  workers_.emplace(id, std::thread([this, id] { work(id); }));
  if (workers_.size() > peak_) peak_ = workers_.size();
}

bool ElasticPool::submit(Task task) {
  std::vector<std::thread> finished;
  {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [this] { return closed_ || queue_.size() < limits_.queue_capacity; });
    if (closed_) return false;
    queue_.push_back(std::move(task));
    // Grow only when the queued tasks outnumber the idle workers: an idle
    // worker will take this task as soon as notify_one() below wakes it.
    // Counting idle as alive minus busy (not as "waiting right now") makes
    // the decision independent of how far each worker has got into its loop.
    const std::size_t idle = workers_.size() - busy_;
    if (queue_.size() > idle && workers_.size() < limits_.max_workers) start_worker();
    finished.swap(retired_);
  }
  not_empty_.notify_one();
  for (std::thread& thread : finished) thread.join();  // retired workers, already exiting
  return true;
}

void ElasticPool::work(std::uint64_t id) {
  std::unique_lock lock(mutex_);
  for (;;) {
    const bool woken = not_empty_.wait_for(lock, limits_.idle_timeout,
                                           [this] { return closed_ || !queue_.empty(); });
    if (!woken) {
      // Idle for a whole idle_timeout. The decision is taken under the lock,
      // so two idle workers cannot both retire past min_workers.
      if (workers_.size() > limits_.min_workers) {
        // A thread cannot join itself: hand this one's std::thread to the
        // next submit() or to shutdown(). Moving a std::thread object does
        // not disturb the thread it represents.
        auto self = workers_.find(id);
        retired_.push_back(std::move(self->second));
        workers_.erase(self);
        return;
      }
      continue;
    }
    if (queue_.empty()) return;  // shut down and drained; shutdown() joins this thread

    Task task = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    not_full_.notify_one();
    try {
      task();
    } catch (const std::exception& error) {
      cs::log_error("elastic pool: a task threw: ", error.what());
    } catch (...) {
      cs::log_error("elastic pool: a task threw a non-standard exception");
    }
    task = nullptr;  // destroyed outside the lock
    lock.lock();
    --busy_;
  }
}

void ElasticPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  // After closed_ is set no worker retires any more (its wait ends on
  // closed_), so every thread is either in workers_ or in retired_.
  std::map<std::uint64_t, std::thread> alive;
  std::vector<std::thread> retired;
  {
    std::lock_guard lock(mutex_);
    alive.swap(workers_);
    retired.swap(retired_);
  }
  for (auto& [id, thread] : alive) thread.join();
  for (std::thread& thread : retired) thread.join();
}

std::size_t ElasticPool::worker_count() const {
  std::lock_guard lock(mutex_);
  return workers_.size();
}

std::size_t ElasticPool::peak_workers() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

}  // namespace exercises
