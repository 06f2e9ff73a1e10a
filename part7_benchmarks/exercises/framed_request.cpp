// Exercise part7-1: the starting point writes header and body apart; the
// contract is in framed_request.hpp.
#include "framed_request.hpp"

#include "cs/frame_codec.hpp"
#include "cs/socket.hpp"

namespace exercises {

bool send_request(int fd, cs::ByteView payload) {
  // EXERCISE(part7-1): two writes per request, the header and then the
  // body: with Nagle on, the body waits for the ACK of the header, which
  // the server delays. Send the frame in one write: build it in one buffer
  // (or hand both pieces to one sendmsg/writev), without TCP_NODELAY.
  cs::Bytes header;
  cs::append_frame_header(static_cast<std::uint32_t>(payload.size()), header);
  return cs::send_all(fd, header) && cs::send_all(fd, payload);
}

}  // namespace exercises
