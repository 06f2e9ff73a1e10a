// Exercise part5-2 (starting point): the read, without its deadline.
// See read_with_timeout.hpp for the contract.
#include "read_with_timeout.hpp"

namespace part5ex {

void async_read_some_with_timeout(tcp::socket& socket, asio::mutable_buffer buffer,
                                  std::chrono::milliseconds timeout, ReadHandler done) {
  // EXERCISE(part5-2): start a steady_timer for `timeout` beside the read.
  // If it fires first, cancel the read and report asio::error::timed_out;
  // if the read completes first, cancel the timer. Either way call `done`
  // once: both handlers run, so they need shared state to agree on who won.
  (void)timeout;
  socket.async_read_some(buffer, std::move(done));
}

}  // namespace part5ex
