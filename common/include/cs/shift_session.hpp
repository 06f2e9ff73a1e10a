// The shift protocol (docs/protocol.md; the original concurrent-servers series):
// the server greets with '*'; outside a message bytes are ignored; '^'
// starts a message; inside it '$' ends the message and every other byte b is
// answered with b + 1 (mod 256).
//
// It is a two-state machine that never buffers input, so a message may be
// any length and the memory per connection is constant:
//
//      '^'  +------------+  '$'
//   +------>| in message |-------+
//   |       +------------+       |
//   |        other b: send b+1   v
//  +--------------------+ <------+
//  | waiting for '^'    |  any other byte: ignored
//  +--------------------+
#pragma once

#include "cs/session.hpp"

namespace cs {

class ShiftSession final : public Session {
 public:
  ShiftSession() = default;
  explicit ShiftSession(const SessionLimits& limits) : work_(limits.work) {}

  void greet(Bytes& out) override;

  // Answers the whole chunk with one run of bytes appended to `out`, so the
  // server sends it with one send() instead of one per byte. Never closes.
  // Spends SessionLimits::work of CPU on each '$' that ends a message, so a
  // chunk holding k message ends takes k times that before its reply is sent.
  Verdict on_receive(ByteView in, Bytes& out) override;

  std::uint64_t requests() const override { return messages_; }
  bool request_pending() const override { return pending_; }

 private:
  enum class State { waiting_for_message, in_message };
  State state_ = State::waiting_for_message;
  std::chrono::microseconds work_{0};
  std::uint64_t messages_ = 0;
  bool pending_ = false;  // a byte arrived after the last '$' that ended a message
};

}  // namespace cs
