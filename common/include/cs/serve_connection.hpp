// The connection loop every blocking server (parts 1-3) runs, whatever gives
// it a thread: the sequential server calls it inline, the threaded server on
// a thread per client, the pool server from a worker. Keeping it here is what
// lets each chapter's file hold only its concurrency model.
#pragma once

#include "cs/connection.hpp"
#include "cs/options.hpp"
#include "cs/stats.hpp"

namespace cs {

// Serves one client until it leaves, misbehaves, idles out, or the shutdown
// grace period ends: sends the protocol's greeting, then answers each
// received chunk with one send. Every outcome closes this connection only
// and is logged in one line saying why; a protocol error (an oversized
// frame) still sends the replies to the requests before it. Adds the
// connection's totals to `stats`. Thread-safe if each thread passes its own
// connection (stats are atomic).
void serve_connection(BlockingConnection& client, const ServerOptions& options,
                      ServerStats& stats);

}  // namespace cs
