// Reference solution of exercise part1-1; the contract is in
// bounded_shift_session.hpp.
//
// It is cs::ShiftSession's state machine walked byte by byte, with a count of
// the current message's content bytes. Deciding per byte is what makes the
// outcome independent of how the stream was split: the close happens at the
// same byte of the stream whatever chunk that byte arrived in.
#include "bounded_shift_session.hpp"

#include <string>

namespace exercises {

namespace {
constexpr cs::Byte greeting = '*';
constexpr cs::Byte message_start = '^';
constexpr cs::Byte message_end = '$';
}  // namespace

BoundedShiftSession::BoundedShiftSession(std::size_t max_message) : max_message_(max_message) {}

void BoundedShiftSession::greet(cs::Bytes& out) { out.push_back(greeting); }

cs::Verdict BoundedShiftSession::on_receive(cs::ByteView in, cs::Bytes& out) {
  for (const cs::Byte b : in) {
    switch (state_) {
      case State::waiting_for_message:
        if (b == message_start) {
          state_ = State::in_message;
          message_length_ = 0;
        }
        break;
      case State::in_message:
        if (b == message_end) {
          state_ = State::waiting_for_message;
          ++messages_;
        } else if (message_length_ == max_message_) {
          // This byte would be number max_message_ + 1. The replies to the
          // bytes before it are already in `out`, so the peer gets every
          // answer it was owed, and nothing past the limit.
          return cs::Verdict::close_because("shift message longer than " +
                                            std::to_string(max_message_) + " bytes");
        } else {
          ++message_length_;
          out.push_back(static_cast<cs::Byte>(b + 1));  // 0xFF wraps to 0x00
        }
        break;
    }
  }
  return cs::Verdict::keep_open();
}

std::uint64_t BoundedShiftSession::requests() const { return messages_; }

}  // namespace exercises
