// Exercise part7-2: the starting point counts from the send; the contract
// is in paced_client.hpp.
#include "paced_client.hpp"

#include <sys/socket.h>

#include <thread>

namespace exercises {

Latencies measure_latencies(int fd, std::size_t count, std::chrono::microseconds interval) {
  using Clock = std::chrono::steady_clock;
  Latencies result;
  const Clock::time_point start = Clock::now();
  for (std::size_t i = 0; i < count; ++i) {
    const Clock::time_point due = start + i * interval;
    if (Clock::now() < due) {
      std::this_thread::sleep_until(due);
    } else if (i > 0) {
      ++result.sent_late;
    }
    const Clock::time_point sent = Clock::now();
    char byte = 'p';
    if (::send(fd, &byte, 1, MSG_NOSIGNAL) != 1 || ::recv(fd, &byte, 1, MSG_WAITALL) != 1) break;
    // EXERCISE(part7-2): measured from the send, this leaves out the time
    // the request waited to be sent while the server stalled the client.
    // Count from when the request was due.
    result.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
  }
  return result;
}

}  // namespace exercises
