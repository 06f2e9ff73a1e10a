// The closed loop's bookkeeping (see chat_window.hpp).
#include "chat_window.hpp"

#include <algorithm>
#include <stdexcept>

namespace loadgen {

SendWindow::SendWindow(unsigned capacity) : slots_(capacity) {
  if (capacity == 0) throw std::invalid_argument("SendWindow needs room for one message");
}

std::uint64_t SendWindow::send(std::uint32_t receivers, Clock::time_point when) {
  const std::uint64_t message = next_++;
  slot(message) = Slot{receivers, when};
  advance();
  return message;
}

void SendWindow::settle(std::uint64_t from, std::uint64_t to) {
  const std::uint64_t end = std::min(to, next_);
  for (std::uint64_t m = std::max(from, oldest_); m < end; ++m) {
    Slot& s = slot(m);
    // Zero already when it was given up: a late delivery changes nothing.
    if (s.waiting > 0) --s.waiting;
  }
  advance();
}

std::uint64_t SendWindow::give_up_before(Clock::time_point cutoff) {
  std::uint64_t abandoned = 0;
  for (std::uint64_t m = oldest_; m < next_ && slot(m).sent < cutoff; ++m) {
    abandoned += slot(m).waiting;
    slot(m).waiting = 0;
  }
  advance();
  return abandoned;
}

void SendWindow::advance() {
  while (oldest_ < next_ && slot(oldest_).waiting == 0) ++oldest_;
}

}  // namespace loadgen
