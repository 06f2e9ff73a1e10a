// Exercise part1-1: the shift protocol with a message length limit; the
// contract is in bounded_shift_session.hpp.
//
// This starting point answers exactly like cs::ShiftSession (so the ordinary
// shift tests of the check already pass) but never enforces the limit.
#include "bounded_shift_session.hpp"

namespace exercises {

BoundedShiftSession::BoundedShiftSession(std::size_t max_message) : max_message_(max_message) {}

void BoundedShiftSession::greet(cs::Bytes& out) { shift_.greet(out); }

cs::Verdict BoundedShiftSession::on_receive(cs::ByteView in, cs::Bytes& out) {
  // EXERCISE(part1-1): enforce max_message_ here. ShiftSession consumes the
  // whole chunk at once, so it cannot stop at the byte that breaks the limit;
  // walk the bytes yourself (common/src/shift_session.cpp shows the state
  // machine), count the content bytes of the current message, and return
  // cs::Verdict::close_because(...) on the first byte past the limit.
  return shift_.on_receive(in, out);
}

std::uint64_t BoundedShiftSession::requests() const { return shift_.requests(); }

}  // namespace exercises
