// Reference solution of exercise part1-2; the contract is in
// line_upper_session.hpp.
//
// The limit is checked on every byte as it is buffered, which both bounds the
// buffer and makes the outcome independent of the split: the close happens
// at the same byte of the stream whatever chunk that byte arrived in.
#include "line_upper_session.hpp"

#include <string>
#include <string_view>

namespace exercises {

namespace {
constexpr cs::Byte line_feed = '\n';
constexpr cs::Byte carriage_return = '\r';
constexpr std::string_view too_long_reply = "-ERR line too long\r\n";

cs::Byte ascii_upper(cs::Byte b) {
  // Not std::toupper: its result depends on the C locale, and the protocol
  // promises to change 'a'..'z' and nothing else.
  return b >= 'a' && b <= 'z' ? static_cast<cs::Byte>(b - 'a' + 'A') : b;
}
}  // namespace

LineUpperSession::LineUpperSession(std::size_t max_line) : max_line_(max_line) {}

void LineUpperSession::greet(cs::Bytes&) {}

cs::Verdict LineUpperSession::on_receive(cs::ByteView in, cs::Bytes& out) {
  for (const cs::Byte b : in) {
    if (b == line_feed) {
      answer_line(out);
      continue;
    }
    partial_line_.push_back(b);
    // The shortest this line can still turn out to be: a trailing '\r' is
    // not counted, since a '\n' in the next chunk would make it part of the
    // terminator. Any other byte is content for certain.
    const std::size_t shortest_length = partial_line_.size() - (b == carriage_return ? 1 : 0);
    if (shortest_length > max_line_) {
      out.insert(out.end(), too_long_reply.begin(), too_long_reply.end());
      return cs::Verdict::close_because("line longer than " + std::to_string(max_line_) +
                                        " bytes");
    }
  }
  return cs::Verdict::keep_open();
}

void LineUpperSession::answer_line(cs::Bytes& out) {
  // The '\r' of a "\r\n" may have arrived in an earlier chunk than its '\n';
  // only now is it known to be a terminator.
  if (!partial_line_.empty() && partial_line_.back() == carriage_return) partial_line_.pop_back();
  for (const cs::Byte b : partial_line_) out.push_back(ascii_upper(b));
  out.push_back(carriage_return);
  out.push_back(line_feed);
  partial_line_.clear();
  ++lines_;
}

}  // namespace exercises
