// Exercise part4-2 (docs/part4_epoll.md, "Exercises"): an epoll loop in
// edge-triggered mode.
//
// epoll_server.cpp registers every descriptor level-triggered: epoll_wait()
// reports a socket as long as it has unread bytes, so reading once per
// wake-up is enough; what is left is reported again. With EPOLLET, epoll
// reports a *change*: new bytes arriving, a new connection queuing, space
// opening in the send buffer. Bytes that were already there when the loop
// stopped reading produce no new report, so a loop that does not drain
// every ready descriptor until EAGAIN can wait forever on data the kernel
// already holds. In exchange, each socket is registered once, with no
// epoll_ctl(MOD) to switch EPOLLOUT on and off as replies come and go.
//
// serve_edge_triggered() serves the shift protocol (docs/protocol.md) on a
// listening socket with one thread and one epoll instance, every connection
// registered once with EPOLLIN | EPOLLOUT | EPOLLET (the listener with
// EPOLLIN | EPOLLET), until `stop` fires.
// Its write path (flush) already keeps the rule: it sends until everything
// is out or send() says EAGAIN, and the next EPOLLOUT edge resumes it.
// The two places marked EXERCISE(part4-2) in edge_triggered_server.cpp do
// not: the listener takes one connection per report, and a connection reads
// one chunk per report. Make both drain their descriptor.
//
// Its check (edge_triggered_server_check.cpp) connects real clients on
// 127.0.0.1: a message larger than one read, several clients that connect
// before the loop first waits, and the replies to a client that reads slowly.
#pragma once

#include <cstddef>

#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace exercises {

// The most bytes one recv() takes: small, so that one message can need many.
inline constexpr std::size_t read_chunk = 4096;

// Serves until `stop` fires, then closes every connection and returns.
// `listener` is a listening TCP socket (cs::listen_tcp); it is made
// non-blocking here. Throws std::system_error if epoll cannot be set up.
void serve_edge_triggered(cs::FileDescriptor listener, const cs::StopSignal& stop);

}  // namespace exercises
