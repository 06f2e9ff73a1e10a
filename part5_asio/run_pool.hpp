// How both Asio servers run their io_context: on a pool of threads.
#pragma once

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "asio_headers.hpp"

namespace part5 {

// Runs `io` on `threads` threads, the calling one included, and returns when
// every one of them has left run() (no work is left, or io.stop()).
//
// Connections' errors are error codes handled in their own chains. An
// exception that leaves run() is the server's own failure: the first one is
// kept, every thread is stopped and joined, and it is rethrown here (the
// server then exits 1 through cs::run_guarded) instead of std::terminate on
// a pool thread. Call from the thread that owns `io`.
inline void run_on_pool(asio::io_context& io, unsigned threads) {
  std::mutex failure_mutex;
  std::exception_ptr failure;  // guarded by failure_mutex
  const auto run = [&] {
    try {
      io.run();
    } catch (...) {
      std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      io.stop();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(run);
  run();
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace part5
