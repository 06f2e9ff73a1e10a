// cpf::Server: a reusable completion-port socket server class.
//
// The design follows JetByte's "Free Framework" IOCP server (2002): the
// framework owns the listening socket, a pool of I/O threads, the buffer
// pool and every connection; a server is a class derived from Server that
// overrides the notifications below and issues reads and writes on the
// Connection it is handed. The framework does the rest: accepting (with
// back-off when descriptors run out), continuing partial sends, keeping
// reads and writes in order, idle timeouts and deadlines, pause/resume, a
// bound on what a connection may queue, and a stop that leaves no
// descriptor or buffer behind.
//
// Bounded memory per connection (ServerOptions::output_limit): while more
// than output_limit bytes a connection's writes issued are still unsent
// (the client reads slower than the server answers, or not at all), the
// framework issues no read of that connection to the kernel; reads the
// server asks for wait until the kernel has taken enough to bring the
// queue back to the limit, then go on by themselves. So a server that
// answers each read with a write needs no flow control of its own: a
// client that sends without reading fills its own socket buffers and is
// stopped by TCP, and the connection holds at most output_limit plus the
// replies to one read. The same rule as epoll-server's --output-limit.
//
// Timeouts: a connection with no completed read or write (no byte received
// or sent) for idle_timeout gets on_idle_timeout; a connection whose
// deadline (Connection::set_deadline, e.g. a request timeout) has passed
// gets on_deadline. One sweep checks both (see shortest_deadline).
//
// Notifications of one connection, in lifecycle order (each at most once
// unless marked *):
//
//   on_connection_established
//     -> on_read_completed*  -> on_write_completed*   (interleaved as the
//     -> on_client_closed        operations complete)
//     -> on_connection_reset | on_connection_error | on_idle_timeout | on_deadline
//     -> on_connection_closing   (after close(), unless abort() was used)
//     -> on_connection_closed    (always last; the descriptor is closed)
//
// Threading: notifications run on the I/O threads. Those of one connection
// never overlap and arrive in the order their events happened (reads in the
// order they were issued); those of different connections run in parallel,
// so state shared between connections needs a lock in the derived class.
// A notification must not block for long: it holds an I/O thread.
//
// Backends: uring/ (Linux, io_uring via liburing) and iocp/ (Windows) each
// supply an engine and a connection class under the shared core
// (src/connection_core.hpp). This header names no platform type.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "cpf/buffer.hpp"
#include "cpf/connection.hpp"
#include "cs/backlog.hpp"

namespace cpf {

namespace detail {
class Notifier;  // delivers notifications (src/notifier.cpp, shared by the backends)
}

// ServerOptions::output_limit's default: the same as epoll-server's
// --output-limit, so the two designs hold the same per connection.
inline constexpr std::size_t default_output_limit = 256 * 1024;

struct ServerOptions {
  // Loopback by default, like every server of the repository.
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port (see local_port())
  // SOMAXCONN (4096 on Linux; on Windows, the provider's reasonable
  // maximum), as every server's --backlog (cs/backlog.hpp says why).
  int backlog = cs::default_backlog;
  unsigned threads = 2;  // I/O threads; at least 1
  std::size_t buffer_size = 4096;        // bytes per buffer
  std::size_t max_pooled_buffers = 256;  // released buffers kept for reuse
  // At this many open connections the framework stops accepting until one
  // closes (clients wait in the listen backlog). 0 = no limit.
  std::size_t max_connections = 0;
  // A connection with no completed read or write for this long gets
  // on_idle_timeout. 0 = never.
  std::chrono::milliseconds idle_timeout{0};
  // The shortest time ahead the server will set a connection's deadline
  // (its request timeout, say); 0 if it sets none. Idle timeouts and
  // deadlines are checked by one sweep over the connections, every quarter
  // of the shorter of this and idle_timeout (between 5 ms and 1 s; every
  // second if both are 0), so either is noticed at most that late.
  std::chrono::milliseconds shortest_deadline{0};
  // While more than this many bytes of a connection's writes are unsent,
  // no read of that connection is issued (see the top of this file).
  // 0 = no limit.
  std::size_t output_limit = default_output_limit;
  // Submission/completion queue size hint for the backend (io_uring
  // entries); the number of operations in flight is not limited by it.
  unsigned queue_depth = 256;
  // io_uring only: receive buffers (of buffer_size bytes) per I/O thread
  // that the kernel picks from when bytes arrive for a read() issued
  // without a buffer, rounded up to a power of two. When all are taken at
  // once the reads wait for the next turn of their thread's loop, so this
  // bounds memory, not correctness. Ignored on Windows.
  unsigned provided_buffers = 256;
};

// A snapshot of the server's state. Each field is read atomically, the
// whole is not (fields may be a few events apart under load).
struct Counters {
  std::size_t active_connections = 0;  // accepted and not yet closed
  std::uint64_t connections_accepted = 0;
  std::size_t buffers_in_use = 0;       // handed out, not yet released
  std::size_t buffers_pooled = 0;       // released, kept for reuse
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  bool accepting = false;  // an accept is being offered (started, not paused, not stopping)
  std::uint64_t accept_backoffs = 0;  // times accepting paused for lack of descriptors or memory
  std::size_t bytes_queued = 0;   // issued with write() and not yet sent, all connections together
  std::uint64_t read_pauses = 0;  // times a connection's reads were held back by output_limit
};

class Server {
 public:
  explicit Server(ServerOptions options);
  // Stops the server if it is still running (stop() with no grace). A
  // derived class must call stop() in its own destructor (or earlier):
  // notifications are virtual calls, and by the time ~Server runs the
  // derived part is gone.
  virtual ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens, starts the I/O threads and begins accepting.
  // Throws cs::SetupError (a std::runtime_error) naming the cause when the
  // address cannot be bound or the backend cannot start. Call once, from
  // the thread that owns the server.
  void start();

  // The bound port and "host:port" of the listener (valid after start()).
  // Thread-safe.
  std::uint16_t local_port() const;
  std::string local_address() const;

  // Stops / restarts offering accepts. pause_accepting() returns once no
  // accept is in flight, so no client is accepted after it returns: new
  // clients wait in the listen backlog (the kernel still completes their
  // handshake) until resume_accepting(). Thread-safe; idempotent; may be
  // called from a notification.
  void pause_accepting();
  void resume_accepting();

  // Graceful stop: stops accepting, calls on_server_stopping(), waits up to
  // `grace` for the connections to close on their own, aborts the rest,
  // waits for every operation in flight to complete (each connection gets
  // on_connection_closed), then ends the I/O threads. Afterwards
  // counters() shows no connections and no buffers in use. Blocks; call
  // from the thread that called start(), never from a notification.
  // Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{0});

  // Runs `task` soon on an I/O thread (for work that must not run on the
  // caller's thread, or to leave a notification before doing it).
  // Thread-safe between start() and the return of stop(); tasks still
  // queued when stop() begins run before it returns.
  void post(std::function<void()> task);

  // Thread-safe.
  Counters counters() const;
  const ServerOptions& options() const noexcept { return options_; }
  BufferAllocator& allocator() noexcept { return allocator_; }

 protected:
  // --- Notifications (run on I/O threads; see the threading note above) ---

  // A client was accepted. Default: issues one read.
  virtual void on_connection_established(Connection& connection);

  // A read completed with at least one new byte; `buffer` holds the bytes
  // (after any the buffer held when the read was issued). The buffer is now
  // the server's again. Issue the next read here (read() or read(buffer)),
  // or the connection stops reading.
  virtual void on_read_completed(Connection& connection, BufferPtr buffer) = 0;

  // Every byte of a write's buffer was sent. Default: nothing (the buffer
  // is released when `buffer` goes out of scope).
  virtual void on_write_completed(Connection& connection, BufferPtr buffer);

  // The client shut down its sending side (a read completed with EOF).
  // Delivered once, after every read that completed before it, even if
  // several reads were outstanding. The server may still write. Default:
  // close() (which sends what is already queued first). Bytes a buffer
  // held when its read saw the EOF are released with it: read(buffer)
  // keeps an incomplete message only while more may come.
  virtual void on_client_closed(Connection& connection);

  // The client reset the connection (ECONNRESET, EPIPE, ETIMEDOUT), or an
  // operation failed with another error. The connection is already being
  // aborted (reads and writes are refused); on_connection_closed follows.
  // Defaults: log at debug (reset) / warn (error).
  virtual void on_connection_reset(Connection& connection);
  virtual void on_connection_error(Connection& connection, std::error_code error);

  // No read or write completed for options().idle_timeout. Default:
  // close() (graceful: anything already queued is still sent).
  virtual void on_idle_timeout(Connection& connection);

  // The deadline set with connection.set_deadline() has passed (noticed
  // within a sweep period; delivered only if, by then, no earlier
  // notification moved or cleared it). Once per deadline set. Default: log
  // at info and close() (graceful).
  virtual void on_deadline(Connection& connection);

  // close() was called for the first time. Return false (the default) to
  // let the framework close the connection gracefully once the writes
  // already issued complete. Return true to take over: the connection stays
  // open (reads and writes still work) until the server calls close()
  // again, e.g. after shutdown_send() and reading until the client's EOF (a
  // lingering close, so unread client data cannot turn the close into a
  // reset that destroys replies the client has not read yet).
  virtual bool on_connection_closing(Connection& connection);

  // The descriptor is closed and no operation is pending: the last
  // notification of this connection. Default: nothing.
  virtual void on_connection_closed(Connection& connection);

  // stop() began: accepting has stopped and the grace period starts. A
  // server may close idle connections here. Runs on the caller of stop().
  // Default: nothing.
  virtual void on_server_stopping();

 private:
  class Impl;  // defined by the backend
  friend class detail::Notifier;

  ServerOptions options_;
  BufferAllocator allocator_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cpf
