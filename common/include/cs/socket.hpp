// Socket helpers with stated contracts, shared by every chapter.
//
// Error policy (the same everywhere in the repository): a failure while
// setting up (bad address, port in use) throws SetupError with a message
// that says what to do; a failure on one connection is returned as a value
// so the caller can close that connection and carry on.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

#include "cs/bytes.hpp"

namespace cs {

// A setup problem the user must fix; main() prints what() and exits non-zero.
class SetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Owns one file descriptor and closes it exactly once. Move-only.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    reset(other.release());
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives up ownership without closing.
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Closes the current descriptor (if any) and takes ownership of `fd`.
  // close() is not retried on EINTR: on Linux the descriptor is already
  // released, and retrying could close one another thread just opened.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// A numeric address and port, printed as 127.0.0.1:9090 or [::1]:9090.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

// Creates a listening TCP socket on host:port (an IPv4 or IPv6 literal, or a
// name such as "localhost"; port 0 picks a free port) with SO_REUSEADDR, so
// a restarted server can bind while old connections sit in TIME_WAIT, and
// the given backlog (the kernel caps it at net.core.somaxconn).
// Throws SetupError naming the address and the cause.
FileDescriptor listen_tcp(const std::string& host, std::uint16_t port, int backlog);

// What to do about a failed bind or listen with this errno, as listen_tcp's
// message says it (" (another process is listening there: ...)"), or "" when
// there is nothing to advise. For servers that listen through a library.
std::string advice_for_bind_error(int error);

// The address a socket is bound to (for a listener on port 0, the real port).
Endpoint local_endpoint(int fd);

// Prints "listening on HOST:PORT" and a newline to stdout and flushes: the
// one line tests and the simulator wait for. Call it once, when ready.
void announce_listening(const Endpoint& endpoint);

// Disables Nagle's algorithm. Servers here build each reply in one buffer
// and send it with one call, so there is nothing for Nagle to coalesce and
// only a delayed-ACK stall to lose. Returns false (errno set) on failure,
// which callers may treat as harmless.
bool set_nodelay(int fd);

// What accept_client() got.
struct Accepted {
  enum class Kind {
    client,     // `fd` is a new connection from `peer`
    retry,      // a transient error (the client gave up, a signal): try again
    exhausted,  // out of descriptors or memory: back off, then try again
    fatal,      // the listening socket itself is broken: stop serving
  };
  Kind kind = Kind::fatal;
  FileDescriptor fd;
  Endpoint peer;
  int error = 0;  // errno for the non-client kinds
};

// Accepts one connection (close-on-exec, plus `flags` for accept4(2), such
// as SOCK_NONBLOCK), sorting failures with accept_error_kind().
Accepted accept_client(int listen_fd, int flags = 0);

// How an accept(2) failure is sorted into the kinds above, as accept(2)
// documents them: ECONNABORTED, EINTR, EAGAIN and the network errors Linux
// passes up from the new connection are `retry`; EMFILE, ENFILE, ENOBUFS,
// ENOMEM are `exhausted`; anything else is `fatal`. Written once for every
// accept loop of the repository, blocking, epoll or io_uring.
Accepted::Kind accept_error_kind(int error);

// --- Byte transfer on one socket -------------------------------------------

// How a wait ended.
enum class WaitResult { ready, stop_requested, timed_out };

// Waits until `fd` has any of `events` (POLLIN, POLLOUT), the stop fd (if
// >= 0) is readable, or the deadline (if any) passes. Retries EINTR with the
// remaining time. Error and hang-up conditions count as ready: the next
// recv/send reports them.
WaitResult wait_for(int fd, short events, int stop_fd,
                    std::optional<std::chrono::steady_clock::time_point> deadline);

// One recv() that never blocks: returns the byte count (> 0), 0 at EOF, or
// -1 with errno set (EAGAIN when nothing is there yet). Retries EINTR.
ssize_t recv_some(int fd, std::span<Byte> buffer);

// One send() that never blocks and never raises SIGPIPE (MSG_NOSIGNAL):
// returns how many bytes the kernel took (maybe fewer than asked), or -1
// with errno set (EAGAIN when the send buffer is full). Retries EINTR.
ssize_t send_some(int fd, ByteView data);

// Sends every byte of `data` on a blocking or non-blocking socket, waiting
// for room when the send buffer is full. Returns true when all was sent,
// false with errno set on an error (EPIPE, ECONNRESET, ...). It waits
// without limit: use BlockingConnection when a client that stops reading
// must not hold the caller forever.
bool send_all(int fd, ByteView data);

}  // namespace cs
