// One accepted connection of a cpf::Server, as the server's code sees it.
//
// The framework creates a Connection when it accepts a client and ends it
// after the descriptor is closed and the last operation on it has
// completed (then on_connection_closed is the final notification). The
// server's code gets it by reference in every notification and may keep a
// ConnectionPtr (shared()) to write to it later from any thread; calls on
// a connection that has closed do nothing and return false.
//
// Each backend (uring/ on Linux, iocp/ on Windows) derives its own class
// from this one; the server's code only ever sees this interface.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cpf/buffer.hpp"

namespace cpf {

class Connection;
using ConnectionPtr = std::shared_ptr<Connection>;

// Every I/O method below is thread-safe: it may be called from any thread,
// inside or outside a notification, and returns at once (the operation
// completes later and is reported by a notification). All return false
// when the request was refused because the connection is closing or closed
// (or, for reads, the client already closed its side); a refused buffer is
// simply released.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Id = std::uint64_t;

  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A number unique within one server run, for logs. Thread-safe.
  Id id() const noexcept { return id_; }
  // The client's address, "127.0.0.1:51234" or "[::1]:51234". Thread-safe.
  const std::string& peer() const noexcept { return peer_; }

  // A handle that keeps this object (not the connection) alive.
  ConnectionPtr shared() { return shared_from_this(); }

  // Starts a read into a fresh buffer from the server's allocator, taken
  // only when bytes arrive: a silent client holds no buffer (io_uring's
  // provided buffers; a zero-byte WSARecv on Windows).
  virtual bool read() = 0;
  // Starts a read that appends to `buffer` (which must have free space()):
  // pass back the buffer of on_read_completed holding the first part of a
  // message, and the completion holds the old bytes plus the new ones.
  // Several reads may be outstanding; their completions are delivered in
  // the order the reads were issued, each with the bytes that came next.
  // A null or full buffer throws std::invalid_argument (split or copy a
  // message that outgrows one buffer).
  virtual bool read(BufferPtr buffer) = 0;

  // Queues `buffer`'s payload for sending. The framework owns the buffer's
  // contents until on_write_completed returns it: do not change it. Writes
  // go out in the order they were issued, however many are outstanding; a
  // partial send is continued by the framework, never reported.
  virtual bool write(BufferPtr buffer) = 0;
  // Copies `bytes` into buffers from the allocator and queues them.
  virtual bool write(ByteView bytes) = 0;

  // Shuts down the sending side (the client reads EOF) once every write
  // issued before this call has completed. Reads continue. Later writes are
  // refused.
  virtual bool shutdown_send() = 0;

  // Closes the connection. The first call delivers on_connection_closing;
  // unless the server takes over there (returns true), the framework then
  // stops reading (a read in flight is cancelled and not delivered), waits
  // for the writes already issued to complete, and closes the descriptor
  // gracefully (FIN after the last byte). If the server took over, it calls
  // close() again when it is done (after a lingering drain, say) and the
  // framework closes without asking again.
  virtual void close() = 0;

  // Closes at once, abortively: outstanding reads and writes are cancelled,
  // unsent data is discarded, and the client sees a reset (RST). No
  // on_connection_closing. For errors and for the end of a shutdown grace.
  virtual void abort() = 0;

  // True once close() or abort() was called or the connection failed.
  virtual bool closing() const = 0;

  // Sets the moment at which the server gets on_deadline for this
  // connection (a request that must be complete by then, say); nullopt
  // clears it. One deadline at a time: a new one replaces the old. The
  // framework's sweep notices it at most a sweep period late (see
  // ServerOptions::shortest_deadline). Not reported once the connection is
  // closing, unless the server took the closing over.
  virtual void set_deadline(std::optional<std::chrono::steady_clock::time_point> when) = 0;

  // Per-connection state of the server (a session object, say). Set it in
  // on_connection_established; read it in later notifications of this
  // connection (notifications of one connection never overlap, and each
  // happens after the previous, so no lock is needed). Released when the
  // Connection object is destroyed.
  void set_context(std::shared_ptr<void> context) { context_ = std::move(context); }
  template <typename T>
  T& context() const {
    return *static_cast<T*>(context_.get());
  }
  bool has_context() const noexcept { return context_ != nullptr; }

 protected:
  Connection(Id id, std::string peer) : id_(id), peer_(std::move(peer)) {}

 private:
  const Id id_;
  const std::string peer_;
  std::shared_ptr<void> context_;
};

}  // namespace cpf
