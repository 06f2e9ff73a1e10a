// Exercise part3-2: refuse instead of queue.
//
// threadpool-server answers overload with backpressure: when every worker is
// busy and the queue is full it stops accepting, and new clients wait in the
// kernel's backlog, connected but unanswered, for as long as it takes. That
// is right when clients would rather wait; it is wrong when they would
// rather know (a client that could try another server, or show "busy, try
// later", learns nothing from silence). Load shedding answers at once: the
// acceptor keeps accepting, and a client that finds the queue full gets a
// short "busy" reply and is closed, as an HTTP server answers 503 or an SMTP
// server 421.
//
// Edit this file and refusing_server.cpp; check your work with
//   ./run exercise part3-2
// The check is refusing_server_check.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cs/options.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace exercises {

// What a refused client receives instead of the greeting, just before the
// server closes the connection. Neither protocol of docs/protocol.md defines a
// refusal, so this is the exercise's own extension, sent as raw bytes
// whatever the protocol: a shift client that receives anything but '*' first
// knows it was not served.
inline constexpr std::string_view busy_message =
    "BUSY every worker is busy and the queue is full; try again later\r\n";

// What run_server() reports when it returns.
struct ServerReport {
  std::uint64_t served = 0;   // connections a worker served
  std::uint64_t refused = 0;  // connections answered with busy_message
};

// Serves the clients that connect to `listener` (listening already) with a
// pool of options.threads workers and a queue of `queue_capacity` accepted
// connections, exactly like threadpool-server (the same serve_connection(),
// the same shutdown), until `stop` is requested.
//
// The contract to implement (the starting point applies backpressure
// instead):
// - When the queue has room, an accepted connection is queued as before and
//   greeted when a worker starts it.
// - When the queue is full, the acceptor still accepts the next client, and
//   instead of queueing it: sends it busy_message with one non-blocking send
//   (the acceptor must never wait for a client; a new connection's send
//   buffer is empty, so the message fits), closes it, logs one line
//   "refused PEER: ...", and counts it in ServerReport::refused.
// - The acceptor never waits for room: it only ever waits in accept, so
//   clients are refused as fast as they arrive, and served again as soon as
//   there is room.
// - The summary line says how many were refused.
ServerReport run_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                        std::size_t queue_capacity, const cs::StopSignal& stop);

}  // namespace exercises
