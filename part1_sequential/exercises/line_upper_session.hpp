// Exercise part1-2: a newline-delimited protocol, to contrast with shift.
//
// Shift answers byte by byte and never buffers. Most text protocols (SMTP,
// Redis's inline commands, HTTP/1 headers) are line-based instead: nothing
// can be answered until the whole line is in, so the server must buffer a
// partial line, and a peer that never sends a newline can make that buffer
// grow without bound unless the server caps it. This session is that cap.
//
// Edit this file and line_upper_session.cpp; check your work with
//   ./run exercise part1-2
// The check is line_upper_session_check.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cs/session.hpp"

namespace exercises {

// The protocol:
//
// - No greeting.
// - A line ends with '\n'; one '\r' right before the '\n' is part of the
//   terminator and is stripped (so both "abc\n" and "abc\r\n" are the line
//   "abc"). Any other '\r' is ordinary content.
// - Each complete line is answered with the line in ASCII upper case ('a'..'z'
//   become 'A'..'Z'; every other byte is sent unchanged), followed by "\r\n".
//   An empty line is answered with just "\r\n". Lines may arrive pipelined,
//   several in one chunk, and are answered in order.
// - A partial line (no '\n' yet) is buffered and not answered.
//
// The limit to implement:
//
// - A line's length excludes its terminator. A line of up to max_line bytes
//   is answered as usual; max_line may be 0 (then only empty lines pass).
// - A longer line closes the connection: on_receive() appends
//   "-ERR line too long\r\n" to `out` (after the replies to the lines before
//   it) and returns Verdict::close_because(reason), where reason contains
//   "line longer than <max_line> bytes".
// - It closes as soon as the buffered partial line is certain to be too
//   long, without waiting for the '\n': a peer that never sends one must not
//   grow the buffer past max_line + 1 bytes. Careful with '\r': max_line
//   bytes followed by a '\r' that ends a chunk is not yet too long, because
//   that '\r' is stripped if the next chunk starts with '\n'.
// - requests() counts the lines answered.
// - The outcome (output and verdict, including the reason) is the same
//   however the input is split into chunks. After a close verdict the
//   server sends `out` and closes; it never calls on_receive() again.
//
// Not thread-safe: one connection, one caller at a time (like every Session).
class LineUpperSession final : public cs::Session {
 public:
  explicit LineUpperSession(std::size_t max_line);

  void greet(cs::Bytes& out) override;  // no greeting
  cs::Verdict on_receive(cs::ByteView in, cs::Bytes& out) override;
  std::uint64_t requests() const override { return lines_; }
  bool request_pending() const override { return !partial_line_.empty(); }

  std::size_t max_line() const { return max_line_; }

 private:
  // Answers partial_line_ as one complete line and empties it.
  void answer_line(cs::Bytes& out);

  // EXERCISE(part1-2): these members already suffice for the limit; add any
  // you find clearer.
  cs::Bytes partial_line_;  // bytes since the last '\n', a trailing '\r' included
  std::uint64_t lines_ = 0;
  std::size_t max_line_;
};

}  // namespace exercises
