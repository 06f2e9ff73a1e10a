// SendWindow - the closed loop of loadgen chat (--in-flight K): which of one
// sender's messages are still on their way, so that the sender sends its
// next message only when fewer than K are.
//
// A chat message has no reply, so "on its way" is counted at the receivers:
// a message is settled once every client that was in the room when it was
// sent is done with it, because it
//   - received it,
//   - received a later message of the same sender first (the server lost
//     this one for it: it will never come, since every receiver gets one
//     sender's messages in order), or
//   - left the room (the server dropped it).
// A message that is not settled after the patience the caller chooses is
// given up (a frame torn beyond recognition settles nothing, and a sender
// must not wait for it for ever); its missing deliveries count as lost.
//
// Messages are numbered 0, 1, 2, ... in the order sent. Each receiver
// reports them in order, as ranges [from, to) that never overlap for one
// receiver, so a message's count of receivers still expected only goes down
// and the messages settle in the order they were sent.
//
// Not thread-safe: one event loop owns every window.
#pragma once

#include <cstdint>
#include <vector>

#include "net.hpp"

namespace loadgen {

class SendWindow {
 public:
  // `capacity` (at least 1): the most messages on their way at once.
  explicit SendWindow(unsigned capacity);

  bool can_send() const { return next_ - oldest_ < slots_.size(); }
  std::uint64_t next() const { return next_; }      // the number of the next message
  std::uint64_t oldest() const { return oldest_; }  // the oldest one not settled (next() if none)
  unsigned in_flight() const { return static_cast<unsigned>(next_ - oldest_); }

  // Records message next() as sent at `when`, expected by `receivers`
  // clients, and returns its number. Only when can_send(). A message
  // nobody expects (receivers == 0) is settled at once.
  std::uint64_t send(std::uint32_t receivers, Clock::time_point when);

  // One receiver is done with messages [from, to) (received, skipped or
  // left); the part of the range not on its way any more is ignored, so a
  // receiver that leaves passes [its next expected, UINT64_MAX).
  void settle(std::uint64_t from, std::uint64_t to);

  // Gives up on the messages sent before `cutoff` that are still on their
  // way; returns how many deliveries were still expected of them.
  std::uint64_t give_up_before(Clock::time_point cutoff);

 private:
  struct Slot {
    std::uint32_t waiting = 0;  // receivers still expected
    Clock::time_point sent{};
  };
  Slot& slot(std::uint64_t message) { return slots_[message % slots_.size()]; }
  void advance();  // oldest_ past the settled messages

  std::vector<Slot> slots_;  // message m lives in slots_[m % capacity] while on its way
  std::uint64_t oldest_ = 0, next_ = 0;
};

}  // namespace loadgen
