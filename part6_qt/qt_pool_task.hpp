// PoolTask: one accepted client as a QThreadPool task, for the pool server
// (qt_server_pool.cpp) and its exercise (exercises/refusing_pool.cpp).
//
// A task holds the client's raw descriptor while it waits in the pool's
// queue; the pool thread that runs it calls `serve` with the descriptor,
// which makes the QtConnection there, on that thread. QThreadPool::start()
// also takes a plain lambda, but three things need a task of their own:
//   - A task the pool drops unstarted (QThreadPool::clear() on a stop)
//     must close its client's socket: the destructor does, ungreeted.
//   - The client leaves the descriptor budget (qt_descriptor_budget.hpp)
//     when its task is deleted, served or not.
//   - The pool hands a task to a thread under QMutex, which ThreadSanitizer
//     cannot see (Qt is not instrumented); the constructor ends with a
//     release and run() begins with the matching acquire, which state the
//     same ordering in a form it can check. So nothing may change the task
//     once it is made.
//
// Thread-safety: made on the accepting thread, then run on one pool thread;
// deleted by the pool after run(), or by whoever removed it from the queue.
#pragma once

#include <QRunnable>
#include <QtGlobal>

#include <atomic>
#include <chrono>
#include <functional>

#include "cs/stop.hpp"
#include "qt_descriptor_budget.hpp"

namespace part6 {

class PoolTask : public QRunnable {
 public:
  // Runs on the pool thread, with the descriptor, which it then owns.
  using Serve = std::function<void(qintptr descriptor)>;

  // Takes ownership of `descriptor`, a client admitted to `clients`.
  PoolTask(qintptr descriptor, const cs::StopSignal& stop, DescriptorBudget& clients, Serve serve);

  // Closes the descriptor if no thread took it, and releases the client.
  ~PoolTask() override;

  // The client's descriptor while no thread has taken it, then -1: for a
  // caller that kept a task the pool refused (QThreadPool::tryStart()).
  qintptr descriptor() const { return descriptor_; }

  // On a pool thread: serve(descriptor), unless a stop came first (then the
  // destructor closes it, unserved).
  void run() override;

 private:
  qintptr descriptor_;
  const cs::StopSignal& stop_;
  DescriptorBudget& clients_;
  Serve serve_;
  std::chrono::steady_clock::time_point accepted_at_;
  std::atomic<bool> handed_over_{false};
};

}  // namespace part6
