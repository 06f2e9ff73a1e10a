// Exercise part6-1: a connection limit for the one-thread Qt server.
//
// qt-server takes every client it is offered; memory and descriptors are
// its only limit. A limit of its own lets it refuse politely before the
// system refuses rudely: past max_clients connections being served, a new
// client is closed at once, before its greeting, and counted as refused.
// In the one-thread server the count needs no lock and no atomic: every slot
// runs on the same thread, one after another (docs/part6_qt.md).
//
// Edit limited_server.cpp; check your work with
//   ./run exercise part6-1
// The check is limited_server_check.cpp.
#pragma once

#include <cstdint>

#include "cs/options.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace exercises {

struct LimitedReport {
  std::uint64_t served = 0;   // connections greeted and served
  std::uint64_t refused = 0;  // connections closed at once, ungreeted
};

// Serves `listener` as qt-server does, on the calling thread's event loop
// (a QCoreApplication must exist in the process), until `stop`; at most
// `max_clients` connections at once. Returns when every connection ended.
LimitedReport run_limited_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                                 unsigned max_clients, const cs::StopSignal& stop);

}  // namespace exercises
