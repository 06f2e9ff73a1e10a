// make_session(): the one place that maps a --protocol value to its class.
#include "cs/session.hpp"

#include "cs/framed_session.hpp"
#include "cs/shift_session.hpp"

namespace cs {

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::shift: return "shift";
    case Protocol::framed: return "framed";
  }
  return "unknown";
}

std::unique_ptr<Session> make_session(Protocol protocol, const SessionLimits& limits) {
  switch (protocol) {
    case Protocol::shift: return std::make_unique<ShiftSession>(limits);
    case Protocol::framed: return std::make_unique<FramedSession>(limits);
  }
  return nullptr;
}

}  // namespace cs
