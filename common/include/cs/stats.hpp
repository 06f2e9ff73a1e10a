// Counters a server prints in its one-line summary at shutdown.
// Thread-safe: relaxed atomics, because each counter stands alone and the
// summary is read after every connection has finished.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace cs {

struct ServerStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};

  // Adds one finished connection's totals.
  void add_connection(std::uint64_t connection_requests, std::uint64_t received,
                      std::uint64_t sent) {
    connections.fetch_add(1, std::memory_order_relaxed);
    requests.fetch_add(connection_requests, std::memory_order_relaxed);
    bytes_received.fetch_add(received, std::memory_order_relaxed);
    bytes_sent.fetch_add(sent, std::memory_order_relaxed);
  }

  // "connections=3 requests=12 bytes_in=97 bytes_out=61"
  std::string summary() const {
    return "connections=" + std::to_string(connections.load()) +
           " requests=" + std::to_string(requests.load()) +
           " bytes_in=" + std::to_string(bytes_received.load()) +
           " bytes_out=" + std::to_string(bytes_sent.load());
  }
};

}  // namespace cs
