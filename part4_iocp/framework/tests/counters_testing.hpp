// The most a server's counters reach during a test, for the tests of the
// output limit: the framework's server_test.cpp (POSIX clients, the uring
// backend) and iocp/iocp_server_test.cpp (Winsock clients, the IOCP
// backend) watch the same counters the same way.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>

#include "cpf/server.hpp"

namespace part4::testing {

// Samples server.counters() every 100 us on a thread of its own, from
// construction until stop(), keeping the largest bytes_queued and
// buffers_in_use seen. Read the peaks after stop().
class PeakCounters {
 public:
  explicit PeakCounters(const cpf::Server& server)
      : watcher_([this, &server] {
          while (watching_) {
            const cpf::Counters counters = server.counters();
            most_queued_ = std::max(most_queued_, counters.bytes_queued);
            most_buffers_ = std::max(most_buffers_, counters.buffers_in_use);
            std::this_thread::sleep_for(std::chrono::microseconds(100));
          }
        }) {}
  ~PeakCounters() { stop(); }
  PeakCounters(const PeakCounters&) = delete;
  PeakCounters& operator=(const PeakCounters&) = delete;

  // Ends the sampling; the peaks are read only after it (the join orders
  // the watcher's writes before the reads).
  void stop() {
    watching_ = false;
    if (watcher_.joinable()) watcher_.join();
  }

  std::size_t most_queued() const { return most_queued_; }
  std::size_t most_buffers() const { return most_buffers_; }

 private:
  std::atomic<bool> watching_{true};
  std::size_t most_queued_ = 0;
  std::size_t most_buffers_ = 0;
  std::thread watcher_;  // last: it starts once the members above exist
};

}  // namespace part4::testing
