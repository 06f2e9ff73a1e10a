// Endpoint printing and the readiness line; see socket.hpp. Kept apart from
// socket.cpp because it is portable: the Windows build (part 4's IOCP
// backend) announces its port with the same code.
#include <iostream>

#include "cs/socket.hpp"

namespace cs {

std::string Endpoint::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void announce_listening(const Endpoint& endpoint) {
  std::cout << "listening on " << endpoint.to_string() << std::endl;  // endl flushes
}

}  // namespace cs
