// Exercise part1-1: the shift protocol with a limit on message length.
//
// The shift protocol lets a message be any length, which is harmless only
// because cs::ShiftSession never buffers. Real servers still cap requests (a
// peer streaming one endless message ties up a connection forever), and the
// cap has to work however the stream is split into recv() chunks. This is
// that cap, kept as streaming as the protocol itself.
//
// Edit this file and bounded_shift_session.cpp; check your work with
//   ./run exercise part1-1
// The check is bounded_shift_session_check.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cs/session.hpp"
#include "cs/shift_session.hpp"

namespace exercises {

// The contract to implement:
//
// - greet() and every reply are exactly those of cs::ShiftSession: '*' on
//   connect; outside a message bytes are ignored; '^' starts a message;
//   inside it '$' ends the message and any other byte b is answered with
//   b + 1 (mod 256), including '^' (it is ordinary content there).
// - A message's length is its number of content bytes, between '^' and '$'.
//   A message of up to max_message bytes is answered as usual; max_message
//   may be 0 (then only "^$" is allowed).
// - When the (max_message + 1)-th content byte of a message arrives,
//   on_receive() returns Verdict::close_because(reason), where reason
//   contains "longer than <max_message> bytes" (e.g. "shift message longer
//   than 8 bytes"). By then it has appended the replies to every byte before
//   that one (the first max_message bytes of the message and everything
//   earlier in the chunk), and nothing for that byte or any later one.
// - It closes on that byte, not on the '$' that would end the message: a
//   peer that never sends '$' must still be refused.
// - '$' ends the message and resets the count; the next message starts
//   from 0.
// - Replies stream: each content byte is answered in the on_receive() call
//   that delivered it, so memory stays constant (a counter, no buffer).
// - requests() counts completed messages (ended by '$'); a message refused
//   for its length does not count.
// - The outcome (output and verdict, including the reason) is the same
//   however the input is split into chunks. After a close verdict the
//   server sends `out` and closes; it never calls on_receive() again.
//
// Not thread-safe: one connection, one caller at a time (like every Session).
class BoundedShiftSession final : public cs::Session {
 public:
  explicit BoundedShiftSession(std::size_t max_message);

  void greet(cs::Bytes& out) override;
  cs::Verdict on_receive(cs::ByteView in, cs::Bytes& out) override;
  std::uint64_t requests() const override;
  bool request_pending() const override { return shift_.request_pending(); }

  std::size_t max_message() const { return max_message_; }

 private:
  // EXERCISE(part1-1): delegating to cs::ShiftSession gets the replies right
  // but leaves nowhere to count a message's length. Replace or extend these
  // members with the state the limit needs.
  cs::ShiftSession shift_;
  std::size_t max_message_;
};

}  // namespace exercises
