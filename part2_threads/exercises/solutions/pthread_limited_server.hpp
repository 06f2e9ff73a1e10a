// Reference solution of exercise part2-1: admission control (--max-clients)
// for the pthread server. The contract below is the starting point's,
// unchanged.
//
// pthread-server starts a detached thread for every client that connects,
// so a crowd of idle clients takes as many threads as it likes (docs:
// "Denial of service by idle clients"). Give it the policy threaded-server
// has: at most N clients served at once, the rest wait in the backlog.
//
// The check is ../pthread_limited_server_check.cpp; ctest's
// exercise.part2-1.solution-passes proves this solution passes it.
#pragma once

#include "cs/options.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace exercises {

// The contract to implement:
//
// - Serves the clients that connect to `listener` (already listening), each
//   on its own detached pthread, like pthread-server's run_server, until
//   `stop` is requested; then closes the listener, waits until every client
//   thread has finished (each ends by the shutdown grace deadline), logs the
//   summary line and returns.
// - options.max_clients == N > 0: at most N clients are served at once.
//   While N are being served the server does not accept, so the next
//   clients wait in the kernel's backlog, connected but not greeted; as soon
//   as a served client leaves, the next one is accepted (in the order they
//   connected). 0 means no limit.
// - A stop ends the wait for a slot at once, not when a client happens to
//   leave, and without a loop that sleeps and checks: stop.wait_fd() becomes
//   readable when the stop is requested.
//
// Call it from one thread; `options` and `stop` must outlive the call.
void run_pthread_server(cs::FileDescriptor listener, const cs::ServerOptions& options,
                        const cs::StopSignal& stop);

}  // namespace exercises
