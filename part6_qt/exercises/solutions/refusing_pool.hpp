// Exercise part6-2: a pool server that refuses instead of queueing.
//
// qt-server-pool submits every connection with QThreadPool::start(), which
// never fails: with every thread busy, the connection waits in the pool's
// queue, ungreeted, for as long as the clients before it stay. Load shedding
// answers at once instead: QThreadPool::tryStart() runs the task only if a
// thread is free now and returns false otherwise, leaving the task (and the
// socket) with the caller, which sends busy_message and closes.
//
// Edit refusing_pool.cpp; check your work with
//   ./run exercise part6-2
// The check is refusing_pool_check.cpp.
#pragma once

#include <cstdint>
#include <string_view>

#include "cs/options.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace exercises {

// What a refused client receives instead of the greeting, just before the
// server closes the connection (the exercise's own extension of the
// protocols, as in part 3's exercise part3-2).
inline constexpr std::string_view busy_message =
    "BUSY every pool thread is busy; try again later\r\n";

struct PoolReport {
  std::uint64_t submitted = 0;  // connections handed to the pool
  std::uint64_t refused = 0;    // connections answered with busy_message
};

// Serves `listener` as qt-server-pool does with options.threads threads,
// the event loop on the calling thread (a QCoreApplication must exist in the
// process), until `stop`. Returns when every connection ended.
PoolReport run_refusing_pool_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                                    const cs::StopSignal& stop);

}  // namespace exercises
