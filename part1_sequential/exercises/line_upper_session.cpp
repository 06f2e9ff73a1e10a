// Exercise part1-2: the upper-casing line protocol; the contract is in
// line_upper_session.hpp.
//
// This starting point buffers and answers complete lines correctly, however
// they are split, but has no limit: a line of any length is buffered and
// answered, so the limit tests of the check fail.
#include "line_upper_session.hpp"

namespace exercises {

namespace {
constexpr cs::Byte line_feed = '\n';
constexpr cs::Byte carriage_return = '\r';

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
    // EXERCISE(part1-2): enforce max_line_ here, on every byte, so the
    // buffer never grows past the limit. Until a '\n' arrives, a trailing
    // '\r' in partial_line_ may turn out to be a terminator rather than
    // content; decide what that means for the length you compare.
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
