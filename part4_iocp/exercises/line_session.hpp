// Exercise part4-2: a new command for the line protocol.
//
// This is a copy of part4_iocp/servers/line_session.hpp (the LineSession
// that line-server drives), so the exercise can be checked on its own. The
// task: add the command
//
//   REVERSE<rest> -> +OK<rest reversed>   "REVERSE abc" -> "+OK cba"
//
// with the same word rules as ECHO: "REVERSE" alone answers "+OK",
// "REVERSE " followed by text answers "+OK " and the text's bytes in reverse
// order (the space stays first), the word is matched case-insensitively,
// and "REVERSED" is an unknown command. Every other command keeps its
// behaviour, and the replies must not depend on how the stream was split.
// Because the session never touches a socket, the whole change is in
// line_session.cpp, and the check needs no network at all.
//
// Edit line_session.cpp (and this file if you want); check your work with
//   ./run exercise part4-2
// The check is line_session_check.cpp.
//
// The protocol as line-server speaks it today:
//
//   server: +OK ready                greeting, on accept
//   ECHO<rest>   -> +OK<rest>        <rest> verbatim: "ECHO hi" -> "+OK hi"
//   NOOP         -> +OK
//   QUIT         -> +OK bye          then close once every reply is sent
//   anything else (an empty line too) -> -ERR unknown command
//   a line over --max-line bytes     -> -ERR line too long, then close
//
// A line ends at LF; one CR just before the LF is stripped, so CRLF and bare
// LF both work. The command word (the text up to the first space) is matched
// case-insensitively; only "ECHO" alone or "ECHO " followed by text is ECHO
// ("ECHOX" is unknown). A command word with arguments it does not take
// ("NOOP x") is still that command: the arguments are ignored, as SMTP's
// NOOP ignores its parameter.
//
// Memory is bounded: an unfinished line is buffered only up to max_line
// bytes (plus one CR that may precede its LF); one byte more without an LF
// is already "line too long", whether or not an LF ever comes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cs/session.hpp"

namespace exercises {

inline constexpr std::size_t default_max_line = 512;
inline constexpr std::size_t smallest_max_line = 16;
inline constexpr std::size_t largest_max_line = 65536;

class LineSession final : public cs::Session {
 public:
  // Throws std::invalid_argument if max_line is outside
  // smallest_max_line..largest_max_line (the server's --max-line range).
  explicit LineSession(std::size_t max_line = default_max_line);

  void greet(cs::Bytes& out) override;  // "+OK ready\r\n"

  // Answers every complete line of the stream so far, in order, appending
  // all the replies of the chunk to `out`. Closes (after those replies) on
  // QUIT and on a line too long; bytes after either are ignored.
  cs::Verdict on_receive(cs::ByteView in, cs::Bytes& out) override;

  // Lines answered (every command, unknown ones included).
  std::uint64_t requests() const override { return lines_; }
  bool request_pending() const override { return !pending_.empty(); }

  // True once QUIT was answered: the close it asks for is the normal end of
  // the conversation, not an error.
  bool quit_received() const { return quit_; }

  // Bytes of an unfinished line held (dropped if EOF comes now).
  std::size_t partial() const { return pending_.size(); }

 private:
  // Answers one line (its CR already stripped). Returns false after QUIT:
  // the connection closes once this reply is sent.
  bool answer(std::string_view line, cs::Bytes& out);
  // True if `length` bytes ending in `last` can no longer be a line of at
  // most max_line_ bytes once its line ending is stripped.
  bool too_long(std::size_t length, cs::Byte last) const;
  // Marks the session over: every later chunk is ignored.
  cs::Verdict finish(std::string reason);

  std::size_t max_line_;
  std::string pending_;  // the unfinished line, at most max_line_ + 1 bytes
  std::uint64_t lines_ = 0;
  bool quit_ = false;
  bool closed_ = false;  // after QUIT or a line too long: ignore everything
  std::string close_reason_;
};

}  // namespace exercises
