// Exercise part7-1: a request that does not wait 40 ms
// (docs/part7_benchmarks.md, "Exercises").
//
// send_request() sends one framed request (docs/protocol.md: a 4-byte
// big-endian length, then that many bytes) on a connected TCP socket,
// blocking until the kernel has taken all of it. The socket keeps Nagle's
// algorithm on (no TCP_NODELAY), as every socket does by default.
//
// Part 7's Nagle experiment measured what the obvious code costs: the
// header in one write and the body in another. The body is a small
// segment sent while the header is still unacknowledged, so Nagle holds it
// back until the ACK arrives; the server, which cannot answer before the
// body, holds that ACK back for its delayed-ACK timer (40 ms or more on
// Linux). Every request then waits about 40 ms on loopback. TCP_NODELAY
// hides the symptom; one write per message removes the cause.
#pragma once

#include "cs/bytes.hpp"

namespace exercises {

// Sends the frame of `payload` on `fd`. Returns false, with errno set, if
// the connection failed. Must not change the socket's options.
bool send_request(int fd, cs::ByteView payload);

}  // namespace exercises
