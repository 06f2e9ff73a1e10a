// The shift protocol state machine; see shift_session.hpp.
#include "cs/shift_session.hpp"

#include "cs/cpu_work.hpp"

namespace cs {

namespace {
constexpr Byte greeting = '*';
constexpr Byte message_start = '^';
constexpr Byte message_end = '$';
}  // namespace

void ShiftSession::greet(Bytes& out) { out.push_back(greeting); }

Verdict ShiftSession::on_receive(ByteView in, Bytes& out) {
  out.reserve(out.size() + in.size());  // a reply byte per input byte at most: one allocation
  for (const Byte b : in) {
    pending_ = true;  // until a '$' below ends the message this byte belongs to
    switch (state_) {
      case State::waiting_for_message:
        if (b == message_start) state_ = State::in_message;
        break;
      case State::in_message:
        if (b == message_end) {
          state_ = State::waiting_for_message;
          spend_cpu(work_);
          ++messages_;
          pending_ = false;
        } else {
          out.push_back(static_cast<Byte>(b + 1));  // 0xFF wraps to 0x00
        }
        break;
    }
  }
  return Verdict::keep_open();
}

}  // namespace cs
