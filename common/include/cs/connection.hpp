// One client connection as the thread-based chapters (parts 1-3) drive it:
// receive() and send() block like recv/send, but also give up when the
// client has been idle too long, and when a server shutdown's grace period
// has run out. That is what lets a blocking server stop on SIGTERM even while
// a client sits silent, or never reads its replies.
//
// Shutdown, as seen by one connection:
//
//   serving --(stop requested)--> grace period --(client done)--> closed
//      |                              |
//      | idle timeout,                | grace deadline passes
//      | request deadline             |
//      v                              v
//    closed                         closed ("shutdown")
//
// During the grace period the connection is served as before, so replies to
// requests already received still go out; new connections are not accepted.
//
// Not thread-safe: one thread owns a connection. The StopSignal must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "cs/bytes.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace cs {

struct ConnectionPolicy {
  // Close a connection when no byte moved either way for this long. Zero:
  // never (a silent client then holds its server resources until it leaves).
  std::chrono::milliseconds idle_timeout{0};
  // After a stop request, how long open connections may go on (counted from
  // the request, the same deadline for every connection).
  std::chrono::milliseconds shutdown_grace{2000};
  // How long a request may take to arrive once its first byte has; zero:
  // no limit. The deadline itself comes from a RequestTimer
  // (cs/request_timer.hpp), through set_request_deadline().
  std::chrono::milliseconds request_timeout{0};
};

// Why a connection ended.
enum class ConnectionEnd { open, peer_closed, idle_timeout, request_timeout, shutdown, error };

class BlockingConnection {
 public:
  BlockingConnection(FileDescriptor fd, Endpoint peer, const StopSignal& stop,
                     ConnectionPolicy policy);

  // Waits for bytes and reads what is there (up to buffer.size()). Returns
  // the bytes read, never empty, or nullopt once the connection is over:
  // end() says why (EOF is peer_closed, not an error).
  std::optional<ByteView> receive(std::span<Byte> buffer);

  // Sends all of `data`, waiting while the kernel's send buffer is full.
  // Returns false once the connection is over (end() says why).
  bool send(ByteView data);

  // The deadline of the request under way (nullopt: none is), after which
  // receive() and send() give up with ConnectionEnd::request_timeout.
  void set_request_deadline(std::optional<std::chrono::steady_clock::time_point> deadline) {
    request_deadline_ = deadline;
  }

  ConnectionEnd end() const { return end_; }
  // The end as a phrase for a log line: "client closed", "idle for 2000 ms",
  // "shutdown grace period over", "Connection reset by peer", ...
  std::string end_description() const;

  const Endpoint& peer() const { return peer_; }
  int fd() const { return fd_.get(); }
  std::uint64_t bytes_received() const { return bytes_received_; }
  std::uint64_t bytes_sent() const { return bytes_sent_; }

 private:
  // Waits for `events`; false (with end_ set) when a deadline ended the wait.
  bool wait(short events);
  std::optional<std::chrono::steady_clock::time_point> next_deadline() const;
  // The idle deadline passed: true if the kernel sent data on the socket
  // since this object last saw traffic (another thread wrote to it), which
  // moves last_activity_ forward and the deadline with it.
  bool sent_by_another_thread(std::chrono::steady_clock::time_point now);
  void fail(int error);

  FileDescriptor fd_;
  Endpoint peer_;
  const StopSignal& stop_;
  ConnectionPolicy policy_;
  std::chrono::steady_clock::time_point last_activity_;
  std::optional<std::chrono::steady_clock::time_point> grace_deadline_;  // set once stop seen
  std::optional<std::chrono::steady_clock::time_point> request_deadline_;
  ConnectionEnd end_ = ConnectionEnd::open;
  int error_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t bytes_sent_ = 0;
};

}  // namespace cs
