// The Windows backend of cpf::Server: an I/O completion port (IOCP).
//
// This is the design the framework's interface comes from: one completion
// port, a pool of I/O threads blocked in GetQueuedCompletionStatus, and
// every socket operation issued "overlapped", so it completes later as a
// packet on the port that whichever thread is free picks up:
//
//   any thread --WSARecv/WSASend/AcceptEx--> kernel --completion--> port --> one I/O thread
//                (returns at once)                                          (handles it)
//
// - Accepting: several AcceptEx calls are pre-posted on the listener, each
//   with a socket made in advance, so a burst of clients is taken without a
//   round trip per client through the I/O threads. A completed accept gets
//   SO_UPDATE_ACCEPT_CONTEXT (until then the new socket does not know its
//   listener, and shutdown() or getpeername() on it would fail).
// - Per connection, at most one WSARecv and one WSASend are in the kernel at
//   a time; reads and writes the server issues beyond that are queued here
//   and handed over one after another, so bytes keep their order on the
//   wire and reads complete in the order they were issued.
// - Reference counting: each operation in flight holds a reference on its
//   connection (so the object outlives every completion), and the socket is
//   closed only when no operation on it is pending (in_flight_ == 0), so a
//   completion never names a socket handle that was closed and reused.
// - Stopping: CancelIoEx ends the accepts and, on abort, a connection's
//   operations; they complete with WSA_OPERATION_ABORTED like any other.
//
// The Linux backend (uring/) has the same structure with io_uring as the
// port; the per-connection logic (queues, closing states, Sequencer) is the
// same, so a difference between the two files is a platform difference.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cpf/server.hpp"
#include "cs/acceptor.hpp"  // accept_backoff
#include "cs/log.hpp"
#include "cs/socket.hpp"
#include "../src/event.hpp"
#include "../src/notifier.hpp"
#include "../src/output_queue.hpp"
#include "../src/sequencer.hpp"
#include "../src/timers.hpp"

namespace cpf {
namespace {

using detail::Clock;
using detail::Event;
using detail::Notifier;

// Set on the I/O threads: pause_accepting() cannot wait for a completion on
// the thread that would have to handle it.
thread_local bool on_io_thread = false;

// Accepts kept posted on the listener at once (fewer under a connection
// limit, so no client is accepted beyond it).
constexpr std::size_t preposted_accepts = 4;

// Completion keys. Every socket is associated with the port under
// `key_operation`; the others mark packets this file posts itself.
constexpr ULONG_PTR key_operation = 0;
constexpr ULONG_PTR key_failed_to_start = 1;  // the operation failed when issued (error inside)
constexpr ULONG_PTR key_quit = 2;             // ends one I/O thread

// AcceptEx wants room for each address plus 16 bytes.
constexpr DWORD accept_address_length = sizeof(sockaddr_storage) + 16;

std::string text_of(int error) { return std::system_category().message(error); }

// A reset by the peer, as the completions report it (WSAGetOverlappedResult
// turns the NTSTATUS into these).
bool is_reset(int error) {
  return error == WSAECONNRESET || error == WSAECONNABORTED || error == WSAENETRESET ||
         error == WSAETIMEDOUT || error == WSAESHUTDOWN || error == ERROR_NETNAME_DELETED ||
         error == ERROR_CONNECTION_ABORTED;
}

bool is_cancelled(int error) { return error == WSA_OPERATION_ABORTED || error == ERROR_OPERATION_ABORTED; }

cs::Endpoint endpoint_of(const sockaddr* address, int length) {
  char host[NI_MAXHOST] = {};
  char service[NI_MAXSERV] = {};
  if (::getnameinfo(address, static_cast<socklen_t>(length), host, sizeof host, service,
                    sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {"?", 0};
  }
  return {host, static_cast<std::uint16_t>(std::atoi(service))};
}

// Winsock's extension functions are reached through pointers the provider
// hands out (linking them from mswsock directly works, but costs a lookup
// on every call).
template <typename Function>
Function extension_function(SOCKET socket, GUID id) {
  Function function = nullptr;
  DWORD bytes = 0;
  if (::WSAIoctl(socket, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &function,
                 sizeof function, &bytes, nullptr, nullptr) != 0) {
    throw cs::SetupError("cannot load a Winsock extension function: " + text_of(::WSAGetLastError()));
  }
  return function;
}

}  // namespace

class IocpConnection;

// One overlapped operation in flight. Created by the issuing thread,
// deleted by the I/O thread that handles its completion. The OVERLAPPED is
// the first member: the port hands back its address, which is the
// operation's.
struct Operation {
  enum class Type { accept, recv, send, post };
  explicit Operation(Type t) : type(t) {}

  OVERLAPPED overlapped{};
  Type type;
  SOCKET socket = INVALID_SOCKET;  // the socket the operation runs on
  int failed_to_start = 0;         // the error when it could not be issued
  // The per-operation reference on the connection: while this operation is
  // in flight the connection object cannot be destroyed.
  std::shared_ptr<IocpConnection> connection;
  BufferPtr buffer;            // recv/send: the kernel fills or reads it
  std::function<void()> task;  // post
  SOCKET accepted = INVALID_SOCKET;  // accept: the socket made in advance for the client
  char addresses[2 * accept_address_length] = {};  // accept: local and peer address
};

// --- IocpEngine --------------------------------------------------------------

// The backend's engine. Server::Impl (at the end of this file) is this class
// under the name server.hpp gives it.
class IocpEngine {
 public:
  explicit IocpEngine(Server& owner) : owner_(owner) {}
  ~IocpEngine();

  void start();
  void stop(std::chrono::milliseconds grace);
  void pause_accepting();
  void resume_accepting();
  void post(std::function<void()> task);
  Counters counters() const;
  std::uint16_t port() const { return port_; }
  std::string address() const { return address_; }

  // Counts `op` in flight and issues it with `start_io` (WSARecv, WSASend,
  // AcceptEx), which returns 0 or the Winsock error. An operation that
  // fails at once produces no completion packet, so one is posted with the
  // error: every operation then ends in handle(), on an I/O thread, and its
  // caller never has to handle a failure while holding its locks.
  void issue(Operation* op, const std::function<int()>& start_io);
  // Associates a new socket with the port.
  bool associate(SOCKET socket);

  // Called by a connection after its on_connection_closed was delivered.
  void forget(Connection::Id id);

  Server& owner_;
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  detail::OutputTotals output_totals_;

 private:
  void open_listener();
  void worker_loop();
  void timer_loop();
  void handle(Operation* op, DWORD bytes, int error);
  void arm_accept_locked();  // accept_mutex_ held
  void cancel_accepts_locked();
  void on_accept(Operation* op, int error);
  void on_accept_backoff();
  void sweep();
  void back_off_locked(int error);  // accept_mutex_ held
  void establish(SOCKET socket, std::string peer);
  void wait_for_no_connections(std::optional<Clock::time_point> deadline);
  std::size_t accept_target() const;

  HANDLE port_handle_ = nullptr;
  bool winsock_ready_ = false;
  std::vector<std::thread> workers_;

  SOCKET listener_ = INVALID_SOCKET;
  int listener_family_ = AF_INET;
  LPFN_ACCEPTEX accept_ex_ = nullptr;
  LPFN_GETACCEPTEXSOCKADDRS get_accept_ex_sockaddrs_ = nullptr;
  std::uint16_t port_ = 0;
  std::string address_;
  bool started_ = false;  // owner thread only
  bool stopped_ = false;  // owner thread only

  // Accepting. accept_mutex_ is taken before timer_mutex_, never after.
  mutable std::mutex accept_mutex_;
  std::condition_variable accept_changed_;
  std::size_t accepts_in_flight_ = 0;  // guarded by accept_mutex_
  bool paused_ = false;                // guarded by accept_mutex_
  bool stopping_ = false;              // guarded by accept_mutex_
  bool backoff_pending_ = false;       // guarded by accept_mutex_
  bool accept_broken_ = false;         // guarded by accept_mutex_
  // Accepted while paused, with their peer names; guarded by accept_mutex_.
  std::vector<std::pair<SOCKET, std::string>> parked_;
  // While sockets are used up, every retry fails the same way.
  cs::RepeatLimiter exhausted_warnings_;

  // The timer thread: accept back-off and the sweep for idle timeouts and
  // deadlines (src/timers.hpp). It only posts work to the port; the work
  // itself runs on the I/O threads.
  std::thread timer_;
  std::mutex timer_mutex_;
  std::condition_variable timer_changed_;
  bool timer_stopping_ = false;                // guarded by timer_mutex_
  std::optional<Clock::time_point> backoff_until_;  // guarded by timer_mutex_

  // Every live connection, so stop() can find them and counters() count
  // them. An entry goes when its on_connection_closed has been delivered.
  mutable std::mutex registry_mutex_;
  std::condition_variable registry_changed_;
  std::unordered_map<Connection::Id, std::shared_ptr<IocpConnection>> connections_;  // guarded
  std::atomic<std::size_t> active_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> accept_backoffs_{0};
  std::atomic<Connection::Id> next_id_{1};

  // Operations issued and not yet handled; stop() waits for zero.
  std::atomic<std::size_t> ops_in_flight_{0};
  std::mutex ops_mutex_;
  std::condition_variable ops_drained_;
};

// --- IocpConnection ----------------------------------------------------------

class IocpConnection final : public Connection {
 public:
  IocpConnection(IocpEngine& server, Id id, std::string peer, SOCKET socket)
      : Connection(id, std::move(peer)),
        server_(server),
        socket_(socket),
        output_(server.output_totals_, server.owner_.options().output_limit),
        timers_(Clock::now()) {}
  ~IocpConnection() override {
    if (socket_ != INVALID_SOCKET) ::closesocket(socket_);  // only if never started
  }

  bool read() override;
  bool read(BufferPtr buffer) override;
  bool write(BufferPtr buffer) override;
  bool write(ByteView bytes) override;
  bool shutdown_send() override;
  void close() override;
  void abort() override;
  bool closing() const override {
    std::lock_guard lock(mutex_);
    return close_requested_ || aborting_ || closed_;
  }
  void set_deadline(std::optional<Clock::time_point> when) override {
    std::lock_guard lock(mutex_);
    timers_.set_deadline(when);
  }

  void start();
  void on_recv_complete(Operation& op, DWORD bytes, int error);
  void on_send_complete(Operation& op, DWORD bytes, int error);
  void check_timers(Clock::time_point now, std::chrono::milliseconds idle_limit);

 private:
  // Events recorded under mutex_ (each with its ticket), delivered after
  // mutex_ is released: notifications call back into this object.
  using Recorded = std::vector<std::pair<std::uint64_t, Event>>;

  void record_locked(Recorded& out, Event::Kind kind, BufferPtr buffer = {}, std::error_code error = {});
  void deliver(Recorded& events);
  void drain();
  void pump_reads_locked();
  void pump_writes_locked(Recorded& out);
  void abort_locked(Recorded& out);
  void fail_locked(Recorded& out, int error);
  void advance_close_locked(Recorded& out);
  void begin_framework_close();
  // After close(), reads and writes are refused unless the server takes
  // over the closing (from inside on_connection_closing on).
  bool readable_locked() const {
    return !closed_ && !aborting_ && !framework_closing_ && !eof_ &&
           (!close_requested_ || taken_over_ || deciding_close_);
  }
  bool writable_locked() const {
    return !closed_ && !aborting_ && !framework_closing_ && !send_shutdown_requested_ &&
           (!close_requested_ || taken_over_ || deciding_close_);
  }
  std::shared_ptr<IocpConnection> self() {
    return std::static_pointer_cast<IocpConnection>(shared_from_this());
  }

  IocpEngine& server_;
  mutable std::mutex mutex_;  // guards everything below
  // Closed (closesocket) only when in_flight_ is zero: see the file comment.
  SOCKET socket_;
  unsigned in_flight_ = 0;
  std::deque<BufferPtr> read_queue_;  // reads issued, not yet in the kernel
  Operation* recv_in_flight_ = nullptr;  // the WSARecv in the kernel, for CancelIoEx
  detail::OutputQueue output_;  // front is the one in the kernel, if send_in_flight_
  bool send_in_flight_ = false;
  bool eof_ = false;                   // the client's EOF was seen (reported once)
  bool close_requested_ = false;       // close() was called (closing notification recorded)
  bool deciding_close_ = false;        // on_connection_closing is running
  bool close_again_ = false;           // close() called again before the decision
  bool taken_over_ = false;            // the server took over closing
  bool framework_closing_ = false;     // graceful close under way
  bool aborting_ = false;              // abortive close under way
  bool cancel_issued_ = false;
  bool send_shutdown_requested_ = false;
  bool closed_ = false;  // socket closed; the closed event is recorded
  detail::ConnectionTimers timers_;
  detail::Sequencer<Event> sequencer_;
};

// --- IocpConnection: the server's calls --------------------------------------

void IocpConnection::start() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    record_locked(out, Event::Kind::established);
  }
  deliver(out);
}

bool IocpConnection::read() {
  {
    std::lock_guard lock(mutex_);
    if (!readable_locked()) return false;
  }
  return read(server_.owner_.allocator().allocate());
}

bool IocpConnection::read(BufferPtr buffer) {
  if (!buffer || buffer->space().empty()) {
    throw std::invalid_argument("cpf::Connection::read needs a buffer with free space");
  }
  std::lock_guard lock(mutex_);
  if (!readable_locked()) return false;
  read_queue_.push_back(std::move(buffer));
  pump_reads_locked();
  return true;
}

bool IocpConnection::write(BufferPtr buffer) {
  if (!buffer) throw std::invalid_argument("cpf::Connection::write needs a buffer");
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    if (!writable_locked()) return false;
    output_.push(std::move(buffer));
    pump_writes_locked(out);
  }
  deliver(out);
  return true;
}

bool IocpConnection::write(ByteView bytes) {
  {
    // Checked first as well as below: a closed connection may outlive its
    // server (and allocator) in a ConnectionPtr the server's code kept.
    std::lock_guard lock(mutex_);
    if (!writable_locked()) return false;
  }
  BufferAllocator& allocator = server_.owner_.allocator();
  std::vector<BufferPtr> buffers;
  while (!bytes.empty() || buffers.empty()) {
    BufferPtr buffer = allocator.allocate();
    bytes = bytes.subspan(buffer->append(bytes));
    buffers.push_back(std::move(buffer));
  }
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    if (!writable_locked()) return false;
    for (auto& buffer : buffers) output_.push(std::move(buffer));
    pump_writes_locked(out);
  }
  deliver(out);
  return true;
}

bool IocpConnection::shutdown_send() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    if (!writable_locked()) return false;
    send_shutdown_requested_ = true;
    output_.push_shutdown();
    pump_writes_locked(out);
  }
  deliver(out);
  return true;
}

void IocpConnection::close() {
  Recorded out;
  bool close_now = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || aborting_ || framework_closing_) return;
    if (!close_requested_) {
      close_requested_ = true;
      record_locked(out, Event::Kind::closing);
    } else if (taken_over_) {
      close_now = true;
    } else {
      close_again_ = true;  // the decision is pending; act on it then
    }
  }
  deliver(out);
  if (close_now) begin_framework_close();
}

void IocpConnection::abort() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    abort_locked(out);
  }
  deliver(out);
}

// --- IocpConnection: completions ---------------------------------------------

void IocpConnection::on_recv_complete(Operation& op, DWORD bytes, int error) {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    recv_in_flight_ = nullptr;
    BufferPtr buffer = std::move(op.buffer);
    if (aborting_ || framework_closing_) {
      // Closing: whatever this read got is not delivered (see close()).
    } else if (error == 0 && bytes > 0) {
      buffer->commit(bytes);
      server_.bytes_received_.fetch_add(bytes, std::memory_order_relaxed);
      timers_.touch(Clock::now());
      record_locked(out, Event::Kind::read, std::move(buffer));
      pump_reads_locked();
    } else if (error == 0) {
      // EOF. Reads still queued would only see EOF again: drop them, so the
      // server hears of the half-close exactly once.
      eof_ = true;
      read_queue_.clear();
      record_locked(out, Event::Kind::client_closed);
    } else if (!is_cancelled(error)) {
      fail_locked(out, error);
    }
    advance_close_locked(out);
  }
  deliver(out);
}

void IocpConnection::on_send_complete(Operation& op, DWORD bytes, int error) {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    send_in_flight_ = false;
    op.buffer.reset();
    if (aborting_ || output_.empty()) {
      // Aborting: the queue was dropped and nothing more is reported.
    } else if (error == 0 && bytes > 0) {
      server_.bytes_sent_.fetch_add(bytes, std::memory_order_relaxed);
      timers_.touch(Clock::now());
      if (BufferPtr done = output_.sent(bytes)) record_locked(out, Event::Kind::write, std::move(done));
      // Otherwise a partial send (an overlapped send normally completes
      // whole, but the contract does not promise it): the rest goes next.
      pump_writes_locked(out);
      pump_reads_locked();  // the queue shrank: a read held back by the output limit may go
    } else if (error == 0) {
      fail_locked(out, WSAECONNRESET);  // the kernel took nothing of a non-empty send
    } else if (!is_cancelled(error)) {
      fail_locked(out, error);
    }
    advance_close_locked(out);
  }
  deliver(out);
}

void IocpConnection::check_timers(Clock::time_point now, std::chrono::milliseconds idle_limit) {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    // A connection whose closing the server took over (a lingering close)
    // still times out: that is how a client that never sends its EOF ends.
    if (closed_ || (close_requested_ && !taken_over_) || framework_closing_ || aborting_) return;
    const std::optional<Event::Kind> due = timers_.due(now, idle_limit);
    if (!due) return;
    record_locked(out, *due);
  }
  deliver(out);
}

// --- IocpConnection: internals -----------------------------------------------

void IocpConnection::record_locked(Recorded& out, Event::Kind kind, BufferPtr buffer,
                                   std::error_code error) {
  out.emplace_back(sequencer_.take_ticket(), Event{kind, std::move(buffer), error});
}

void IocpConnection::deliver(Recorded& events) {
  bool deliverer = false;
  for (auto& [ticket, event] : events) deliverer |= sequencer_.offer(ticket, std::move(event));
  events.clear();
  if (!deliverer) return;
  if (on_io_thread) {
    drain();
  } else {
    // Notifications run on the I/O threads only (server.hpp promises it),
    // so a call from another thread (a close from on_server_stopping, the
    // aborts of stop()) hands the delivering to one.
    server_.post([connection = self()] { connection->drain(); });
  }
}

void IocpConnection::drain() {
  const auto keep_alive = self();  // the registry may drop it on `closed`
  while (std::optional<Event> event = sequencer_.next()) {
    const Event::Kind kind = event->kind;
    if (kind == Event::Kind::closing) {
      std::lock_guard lock(mutex_);
      deciding_close_ = true;
    }
    if (kind == Event::Kind::deadline) {
      std::lock_guard lock(mutex_);
      if (!timers_.deadline_passed(Clock::now())) continue;  // moved or cleared since the sweep
    }
    const Notifier::Then then = Notifier::deliver(server_.owner_, *this, *event);
    event.reset();  // release the buffer before acting
    switch (then) {
      case Notifier::Then::nothing:
        break;
      case Notifier::Then::abort:
        abort();
        break;
      case Notifier::Then::close_by_framework: {
        {
          std::lock_guard lock(mutex_);
          deciding_close_ = false;
        }
        begin_framework_close();
        break;
      }
      case Notifier::Then::take_over_closing: {
        bool close_now = false;
        {
          std::lock_guard lock(mutex_);
          deciding_close_ = false;
          taken_over_ = true;
          close_now = close_again_;
        }
        if (close_now) begin_framework_close();
        break;
      }
    }
    if (kind == Event::Kind::closed) server_.forget(id());
  }
}

void IocpConnection::pump_reads_locked() {
  if (recv_in_flight_ != nullptr || read_queue_.empty() || socket_ == INVALID_SOCKET || aborting_ ||
      framework_closing_) {
    return;
  }
  if (!output_.reads_allowed()) return;  // over the output limit: on_send_complete resumes
  auto* op = new Operation(Operation::Type::recv);
  op->connection = self();
  op->socket = socket_;
  op->buffer = std::move(read_queue_.front());
  read_queue_.pop_front();
  const std::span<Byte> room = op->buffer->space();
  recv_in_flight_ = op;
  ++in_flight_;
  server_.issue(op, [op, room] {
    WSABUF buffer{static_cast<ULONG>(std::min<std::size_t>(room.size(), ULONG_MAX)),
                  reinterpret_cast<char*>(room.data())};
    DWORD flags = 0;
    return ::WSARecv(op->socket, &buffer, 1, nullptr, &flags, &op->overlapped, nullptr) == 0
               ? 0
               : ::WSAGetLastError();
  });
}

void IocpConnection::pump_writes_locked(Recorded& out) {
  while (!send_in_flight_ && !output_.empty() && socket_ != INVALID_SOCKET && !aborting_) {
    detail::OutputQueue::Item& item = output_.front();
    if (item.shutdown_marker) {
      // Every write before the marker has completed: now the FIN can go.
      ::shutdown(socket_, SD_SEND);
      output_.pop_front();
      continue;
    }
    if (item.buffer->empty()) {
      record_locked(out, Event::Kind::write, output_.pop_front());
      continue;
    }
    auto* op = new Operation(Operation::Type::send);
    op->connection = self();
    op->socket = socket_;
    op->buffer = item.buffer;
    Byte* from = item.buffer->data() + item.sent;
    const std::size_t length = item.buffer->size() - item.sent;
    send_in_flight_ = true;
    ++in_flight_;
    server_.issue(op, [op, from, length] {
      WSABUF buffer{static_cast<ULONG>(std::min<std::size_t>(length, ULONG_MAX)),
                    reinterpret_cast<char*>(from)};
      return ::WSASend(op->socket, &buffer, 1, nullptr, 0, &op->overlapped, nullptr) == 0
                 ? 0
                 : ::WSAGetLastError();
    });
  }
}

void IocpConnection::fail_locked(Recorded& out, int error) {
  if (is_reset(error)) {
    record_locked(out, Event::Kind::reset);
  } else {
    record_locked(out, Event::Kind::error, {}, std::error_code(error, std::system_category()));
  }
  abort_locked(out);
}

void IocpConnection::abort_locked(Recorded& out) {
  if (closed_ || aborting_) return;
  aborting_ = true;
  close_requested_ = true;
  read_queue_.clear();
  output_.clear();  // an in-flight send keeps its own reference to its buffer
  if ((recv_in_flight_ != nullptr || send_in_flight_) && !cancel_issued_) {
    cancel_issued_ = true;
    // Every operation on the socket completes (WSA_OPERATION_ABORTED, or
    // with what it had done); the socket is closed after the last one.
    ::CancelIoEx(reinterpret_cast<HANDLE>(socket_), nullptr);
  }
  advance_close_locked(out);
}

void IocpConnection::begin_framework_close() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || aborting_ || framework_closing_) return;
    framework_closing_ = true;
    read_queue_.clear();
    // A WSARecv waiting in the kernel must end before the socket can be
    // closed. CancelIoEx with its OVERLAPPED cancels that one operation;
    // sends already issued go on.
    if (recv_in_flight_ != nullptr) {
      ::CancelIoEx(reinterpret_cast<HANDLE>(socket_), &recv_in_flight_->overlapped);
    }
    advance_close_locked(out);
  }
  deliver(out);
}

void IocpConnection::advance_close_locked(Recorded& out) {
  if (closed_) return;
  const bool writes_done = output_.empty() && !send_in_flight_;
  if (!(aborting_ || (framework_closing_ && writes_done)) || in_flight_ > 0) return;
  if (aborting_) {
    // Linger on with a zero timeout: closesocket() sends RST and discards
    // unsent data, the meaning of an abortive close.
    const linger hard{1, 0};
    ::setsockopt(socket_, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&hard), sizeof hard);
  }
  ::closesocket(socket_);
  socket_ = INVALID_SOCKET;
  closed_ = true;
  record_locked(out, Event::Kind::closed);
}

// --- IocpEngine ----------------------------------------------------------------

IocpEngine::~IocpEngine() {
  if (listener_ != INVALID_SOCKET) ::closesocket(listener_);
  if (port_handle_ != nullptr) ::CloseHandle(port_handle_);
  if (winsock_ready_) ::WSACleanup();
}

void IocpEngine::issue(Operation* op, const std::function<int()>& start_io) {
  ops_in_flight_.fetch_add(1, std::memory_order_relaxed);
  const int error = start_io();
  if (error == 0 || error == WSA_IO_PENDING) return;  // a completion packet will come
  op->failed_to_start = error;
  if (!::PostQueuedCompletionStatus(port_handle_, 0, key_failed_to_start, &op->overlapped)) {
    // The port itself is broken: no operation could complete again.
    cs::log_error("PostQueuedCompletionStatus failed: ", text_of(static_cast<int>(::GetLastError())));
    std::abort();
  }
}

bool IocpEngine::associate(SOCKET socket) {
  return ::CreateIoCompletionPort(reinterpret_cast<HANDLE>(socket), port_handle_, key_operation, 0) !=
         nullptr;
}

void IocpEngine::open_listener() {
  const ServerOptions& options = owner_.options();
  const std::string where = cs::Endpoint{options.host, options.port}.to_string();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(options.port);
  if (const int rc = ::getaddrinfo(options.host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw cs::SetupError("cannot listen on " + where + ": " + text_of(rc) +
                         " (give --host an IPv4/IPv6 address or a resolvable name)");
  }
  int last_error = 0;
  for (const addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    const SOCKET socket = ::WSASocketW(candidate->ai_family, candidate->ai_socktype, candidate->ai_protocol,
                                       nullptr, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (socket == INVALID_SOCKET) {
      last_error = ::WSAGetLastError();
      continue;
    }
    // Windows' SO_REUSEADDR would let another process bind the same port
    // and steal connections; SO_EXCLUSIVEADDRUSE forbids that. (A restarted
    // server can bind while old connections sit in TIME_WAIT anyway.)
    const BOOL on = TRUE;
    ::setsockopt(socket, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, reinterpret_cast<const char*>(&on), sizeof on);
    if (::bind(socket, candidate->ai_addr, static_cast<int>(candidate->ai_addrlen)) == 0 &&
        ::listen(socket, options.backlog) == 0) {
      listener_ = socket;
      listener_family_ = candidate->ai_family;
      break;
    }
    last_error = ::WSAGetLastError();
    ::closesocket(socket);
  }
  ::freeaddrinfo(found);
  if (listener_ == INVALID_SOCKET) {
    std::string advice;
    if (last_error == WSAEADDRINUSE) {
      advice = " (another process is listening there: stop it, or choose another --port; 0 picks a free one)";
    } else if (last_error == WSAEADDRNOTAVAIL) {
      advice = " (this machine has no such address: use 127.0.0.1, ::1, 0.0.0.0 or one of its own)";
    } else if (last_error == WSAEACCES) {
      advice = " (the port is reserved or in use by a privileged service: choose another --port)";
    }
    throw cs::SetupError("cannot listen on " + where + ": " + text_of(last_error) + advice);
  }
  sockaddr_storage local{};
  int length = sizeof local;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&local), &length);
  const cs::Endpoint endpoint = endpoint_of(reinterpret_cast<sockaddr*>(&local), length);
  port_ = endpoint.port;
  address_ = endpoint.to_string();
  accept_ex_ = extension_function<LPFN_ACCEPTEX>(listener_, WSAID_ACCEPTEX);
  get_accept_ex_sockaddrs_ =
      extension_function<LPFN_GETACCEPTEXSOCKADDRS>(listener_, WSAID_GETACCEPTEXSOCKADDRS);
}

void IocpEngine::start() {
  if (started_) throw std::logic_error("cpf::Server::start called twice");
  WSADATA data{};
  if (const int rc = ::WSAStartup(MAKEWORD(2, 2), &data); rc != 0) {
    throw cs::SetupError("cannot start Winsock 2.2: " + text_of(rc));
  }
  winsock_ready_ = true;
  const unsigned threads = std::max(1u, owner_.options().threads);
  // Concurrency `threads`: the port lets that many threads run handlers at
  // once, waking another only when one blocks.
  port_handle_ = ::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, threads);
  if (port_handle_ == nullptr) {
    throw cs::SetupError("cannot create an I/O completion port: " +
                         text_of(static_cast<int>(::GetLastError())));
  }
  open_listener();
  if (!associate(listener_)) {
    throw cs::SetupError("cannot associate the listener with the completion port: " +
                         text_of(static_cast<int>(::GetLastError())));
  }
  started_ = true;
  for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  timer_ = std::thread([this] { timer_loop(); });
  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();
}

void IocpEngine::worker_loop() {
  on_io_thread = true;
  for (;;) {
    DWORD bytes = 0;
    ULONG_PTR key = 0;
    OVERLAPPED* overlapped = nullptr;
    const BOOL ok = ::GetQueuedCompletionStatus(port_handle_, &bytes, &key, &overlapped, INFINITE);
    if (overlapped == nullptr) {
      if (key == key_quit) return;
      // No packet was dequeued: the port itself failed. Nothing can make
      // progress from here, so stop loudly rather than spin or hang.
      cs::log_error("GetQueuedCompletionStatus failed: ", text_of(static_cast<int>(::GetLastError())));
      std::abort();
    }
    auto* op = reinterpret_cast<Operation*>(overlapped);  // the OVERLAPPED is its first member
    int error = 0;
    if (key == key_failed_to_start) {
      error = op->failed_to_start;
    } else if (!ok) {
      // The operation failed; ask Winsock for the error in its own terms
      // (GetLastError() here holds a translated NTSTATUS).
      DWORD transferred = 0;
      DWORD flags = 0;
      error = ::WSAGetOverlappedResult(op->socket, overlapped, &transferred, FALSE, &flags)
                  ? 0
                  : ::WSAGetLastError();
      if (error == 0) error = static_cast<int>(::GetLastError());
    }
    handle(op, bytes, error);
    if (ops_in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      { std::lock_guard lock(ops_mutex_); }
      ops_drained_.notify_all();
    }
  }
}

void IocpEngine::handle(Operation* op, DWORD bytes, int error) {
  switch (op->type) {
    case Operation::Type::accept:
      on_accept(op, error);  // deletes op
      return;
    case Operation::Type::recv:
      op->connection->on_recv_complete(*op, bytes, error);
      break;
    case Operation::Type::send:
      op->connection->on_send_complete(*op, bytes, error);
      break;
    case Operation::Type::post:
      try {
        op->task();
      } catch (const std::exception& failure) {
        cs::log_error("a task posted to the server threw: ", failure.what());
      } catch (...) {
        cs::log_error("a task posted to the server threw");
      }
      break;
  }
  delete op;
}

void IocpEngine::timer_loop() {
  // The sweep is always due: any connection may be given a deadline.
  const auto sweep_period = detail::sweep_period(owner_.options());
  auto next_sweep = Clock::now() + sweep_period;
  std::unique_lock lock(timer_mutex_);
  while (!timer_stopping_) {
    auto wake = next_sweep;
    if (backoff_until_) wake = std::min(wake, *backoff_until_);
    timer_changed_.wait_until(lock, wake);
    if (timer_stopping_) break;
    const auto now = Clock::now();
    if (backoff_until_ && now >= *backoff_until_) {
      backoff_until_.reset();
      post([this] { on_accept_backoff(); });
    }
    if (now >= next_sweep) {
      next_sweep = now + sweep_period;
      post([this] { sweep(); });
    }
  }
}

std::size_t IocpEngine::accept_target() const {
  const std::size_t limit = owner_.options().max_connections;
  if (limit == 0) return preposted_accepts;
  const std::size_t active = active_.load();
  return active >= limit ? 0 : std::min(preposted_accepts, limit - active);
}

void IocpEngine::arm_accept_locked() {
  if (paused_ || stopping_ || backoff_pending_ || accept_broken_) return;
  while (accepts_in_flight_ < accept_target()) {
    const SOCKET client = ::WSASocketW(listener_family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                       WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (client == INVALID_SOCKET) {
      const int error = ::WSAGetLastError();
      if (error == WSAEMFILE || error == WSAENOBUFS) {
        // Out of sockets or memory: trying again at once would fail again
        // at once. Back off; clients wait in the backlog (or in the accepts
        // already posted).
        back_off_locked(error);
      } else {
        cs::log_error("cannot create a socket to accept into: ", text_of(error), "; no longer accepting");
        accept_broken_ = true;
      }
      return;
    }
    auto* op = new Operation(Operation::Type::accept);
    op->socket = listener_;
    op->accepted = client;
    ++accepts_in_flight_;
    issue(op, [this, op] {
      DWORD received = 0;
      // No bytes are read with the accept (receive length 0): a client that
      // connects and waits for the greeting must complete at once.
      return accept_ex_(op->socket, op->accepted, op->addresses, 0, accept_address_length,
                        accept_address_length, &received, &op->overlapped)
                 ? 0
                 : ::WSAGetLastError();
    });
  }
}

void IocpEngine::cancel_accepts_locked() {
  if (accepts_in_flight_ > 0) ::CancelIoEx(reinterpret_cast<HANDLE>(listener_), nullptr);
}

void IocpEngine::on_accept(Operation* op, int error) {
  std::optional<std::pair<SOCKET, std::string>> fresh;
  const SOCKET client = op->accepted;
  std::string peer;
  if (error == 0) {
    // Until this, the accepted socket does not know its listener:
    // getpeername, shutdown and setsockopt(SO_LINGER) would fail on it.
    ::setsockopt(client, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                 reinterpret_cast<const char*>(&listener_), sizeof listener_);
    sockaddr* local = nullptr;
    sockaddr* remote = nullptr;
    int local_length = 0;
    int remote_length = 0;
    get_accept_ex_sockaddrs_(op->addresses, 0, accept_address_length, accept_address_length, &local,
                             &local_length, &remote, &remote_length);
    peer = endpoint_of(remote, remote_length).to_string();
  }
  delete op;
  {
    std::lock_guard lock(accept_mutex_);
    if (error == 0) {
      if (stopping_) {
        // Accepted as the stop began: closed unserved, like a client still
        // in the backlog when the listener closes.
        ::closesocket(client);
      } else if (paused_) {
        parked_.emplace_back(client, std::move(peer));  // served on resume_accepting()
      } else {
        fresh.emplace(client, std::move(peer));
      }
    } else {
      ::closesocket(client);
      if (is_cancelled(error) || error == WSAECONNRESET || error == WSAECONNABORTED ||
          error == ERROR_NETNAME_DELETED) {
        // Cancelled (pause or stop), or the client gave up before we took it.
      } else if (error == WSAEMFILE || error == WSAENOBUFS || error == ERROR_NOT_ENOUGH_MEMORY) {
        back_off_locked(error);
      } else {
        cs::log_error("accept failed: ", text_of(error), "; no longer accepting");
        accept_broken_ = true;
      }
    }
    if (!fresh) {
      --accepts_in_flight_;
      accept_changed_.notify_all();
    }
  }
  if (fresh) {
    establish(fresh->first, std::move(fresh->second));
    // The accept counts as in flight until its connection is registered:
    // stop() and pause_accepting() wait for it, so a connection accepted
    // as they begin is in the registry they then close or count.
    std::lock_guard lock(accept_mutex_);
    --accepts_in_flight_;
    accept_changed_.notify_all();
    arm_accept_locked();
    return;
  }
  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();
}

void IocpEngine::back_off_locked(int error) {
  cs::log_warn_limited(exhausted_warnings_, "accept: ", text_of(error), "; retrying in ",
                       cs::accept_backoff.count(), " ms");
  backoff_pending_ = true;
  accept_backoffs_.fetch_add(1);
  std::lock_guard timer_lock(timer_mutex_);
  backoff_until_ = Clock::now() + cs::accept_backoff;
  timer_changed_.notify_all();
}

void IocpEngine::on_accept_backoff() {
  std::lock_guard lock(accept_mutex_);
  backoff_pending_ = false;
  arm_accept_locked();
}

void IocpEngine::sweep() {
  std::vector<std::shared_ptr<IocpConnection>> connections;
  {
    std::lock_guard lock(registry_mutex_);
    connections.reserve(connections_.size());
    for (auto& entry : connections_) connections.push_back(entry.second);
  }
  const auto now = Clock::now();
  for (auto& connection : connections) connection->check_timers(now, owner_.options().idle_timeout);
}

void IocpEngine::establish(SOCKET socket, std::string peer) {
  if (!associate(socket)) {
    cs::log_warn("cannot associate a new connection with the completion port: ",
                 text_of(static_cast<int>(::GetLastError())), "; closing it");
    ::closesocket(socket);
    return;
  }
  // Replies are built whole and sent with one WSASend: nothing for Nagle's
  // algorithm to coalesce, only a delayed-ACK stall to lose.
  const BOOL on = TRUE;
  ::setsockopt(socket, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&on), sizeof on);
  const Connection::Id id = next_id_.fetch_add(1);
  auto connection = std::make_shared<IocpConnection>(*this, id, std::move(peer), socket);
  {
    std::lock_guard lock(registry_mutex_);
    connections_.emplace(id, connection);
    active_.store(connections_.size());
  }
  accepted_.fetch_add(1);
  connection->start();
}

void IocpEngine::forget(Connection::Id id) {
  {
    std::lock_guard lock(registry_mutex_);
    connections_.erase(id);
    active_.store(connections_.size());
  }
  registry_changed_.notify_all();
  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();  // a connection limit may have held accepting back
}

void IocpEngine::pause_accepting() {
  std::unique_lock lock(accept_mutex_);
  paused_ = true;
  cancel_accepts_locked();
  // On an I/O thread an accept's completion may need this very thread;
  // there, an accept that completes anyway is parked until resume.
  if (!on_io_thread) accept_changed_.wait(lock, [this] { return accepts_in_flight_ == 0; });
}

void IocpEngine::resume_accepting() {
  std::vector<std::pair<SOCKET, std::string>> parked;
  {
    std::lock_guard lock(accept_mutex_);
    if (!paused_) return;
    paused_ = false;
    if (stopping_) return;
    parked.swap(parked_);
  }
  for (auto& [socket, peer] : parked) establish(socket, std::move(peer));
  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();
}

void IocpEngine::post(std::function<void()> task) {
  if (!started_ || port_handle_ == nullptr) throw std::logic_error("cpf::Server::post before start()");
  auto* op = new Operation(Operation::Type::post);
  op->task = std::move(task);
  ops_in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (!::PostQueuedCompletionStatus(port_handle_, 0, key_operation, &op->overlapped)) {
    cs::log_error("PostQueuedCompletionStatus failed: ", text_of(static_cast<int>(::GetLastError())));
    std::abort();
  }
}

void IocpEngine::wait_for_no_connections(std::optional<Clock::time_point> deadline) {
  std::unique_lock lock(registry_mutex_);
  const auto none = [this] { return connections_.empty(); };
  if (deadline) {
    registry_changed_.wait_until(lock, *deadline, none);
  } else {
    registry_changed_.wait(lock, none);
  }
}

void IocpEngine::stop(std::chrono::milliseconds grace) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  const auto deadline = Clock::now() + grace;

  // 1. Stop accepting; the listener closes once no accept refers to it.
  {
    std::unique_lock lock(accept_mutex_);
    stopping_ = true;
    cancel_accepts_locked();
    accept_changed_.wait(lock, [this] { return accepts_in_flight_ == 0; });
    for (auto& parked : parked_) ::closesocket(parked.first);
    parked_.clear();
    ::closesocket(listener_);
    listener_ = INVALID_SOCKET;
  }
  // 2. Let the server say goodbye, and the connections finish on their own.
  Notifier::server_stopping(owner_);
  wait_for_no_connections(deadline);

  // 3. Abort the rest; each ends with on_connection_closed.
  std::vector<std::shared_ptr<IocpConnection>> remaining;
  {
    std::lock_guard lock(registry_mutex_);
    for (auto& entry : connections_) remaining.push_back(entry.second);
  }
  for (auto& connection : remaining) connection->abort();
  remaining.clear();
  wait_for_no_connections(std::nullopt);

  // 4. Stop the timer thread, wait until no operation is in flight (posted
  //    tasks included), then end the I/O threads.
  {
    std::lock_guard lock(timer_mutex_);
    timer_stopping_ = true;
  }
  timer_changed_.notify_all();
  timer_.join();
  {
    std::unique_lock lock(ops_mutex_);
    ops_drained_.wait(lock, [this] { return ops_in_flight_.load(std::memory_order_acquire) == 0; });
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    ::PostQueuedCompletionStatus(port_handle_, 0, key_quit, nullptr);
  }
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  ::CloseHandle(port_handle_);
  port_handle_ = nullptr;
}

Counters IocpEngine::counters() const {
  Counters counters;
  counters.active_connections = active_.load();
  counters.connections_accepted = accepted_.load();
  counters.buffers_in_use = owner_.allocator().in_use();
  counters.buffers_pooled = owner_.allocator().pooled();
  counters.bytes_received = bytes_received_.load();
  counters.bytes_sent = bytes_sent_.load();
  counters.accept_backoffs = accept_backoffs_.load();
  counters.bytes_queued = output_totals_.queued.load(std::memory_order_relaxed);
  counters.read_pauses = output_totals_.pauses.load(std::memory_order_relaxed);
  std::lock_guard lock(accept_mutex_);
  counters.accepting = accepts_in_flight_ > 0 && !paused_ && !stopping_;
  return counters;
}

// --- Server: the public face ----------------------------------------------------

class Server::Impl : public IocpEngine {
 public:
  using IocpEngine::IocpEngine;
};

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      allocator_(options_.buffer_size, options_.max_pooled_buffers),
      impl_(std::make_unique<Impl>(*this)) {}

Server::~Server() { impl_->stop(std::chrono::milliseconds{0}); }

void Server::start() { impl_->start(); }
std::uint16_t Server::local_port() const { return impl_->port(); }
std::string Server::local_address() const { return impl_->address(); }
void Server::pause_accepting() { impl_->pause_accepting(); }
void Server::resume_accepting() { impl_->resume_accepting(); }
void Server::stop(std::chrono::milliseconds grace) { impl_->stop(grace); }
void Server::post(std::function<void()> task) { impl_->post(std::move(task)); }
Counters Server::counters() const { return impl_->counters(); }

}  // namespace cpf
