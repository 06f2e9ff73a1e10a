// The accept loop every blocking server (parts 1-3) shares.
#pragma once

#include <chrono>
#include <optional>

#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace cs {

// After EMFILE/ENFILE, accept() would fail again at once: pause this long
// before retrying, so a server short of descriptors does not spin at 100% CPU.
inline constexpr std::chrono::milliseconds accept_backoff{100};

// A connection accept_next() took, with TCP_NODELAY already set.
struct Client {
  FileDescriptor fd;
  Endpoint peer;
};

// Blocks until a client connects (returned) or a stop is requested (nullopt).
// Transient failures (the client gave up before accept, a signal) are
// retried at once; descriptor or memory exhaustion is logged and retried
// after accept_backoff, or sooner if a stop comes; a broken listening socket
// throws std::runtime_error. Thread-safe if each thread passes its own
// listener. Threads that share one listener must first make it
// non-blocking (O_NONBLOCK): a new connection wakes every thread waiting in
// poll(), and on a blocking listener those that lose the race would wait
// inside accept(), where a stop request cannot reach them.
std::optional<Client> accept_next(int listen_fd, const StopSignal& stop);

}  // namespace cs
