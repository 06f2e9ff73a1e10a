// The Windows backend of cpf::Server: an I/O completion port (IOCP).
//
// This is the design the framework's interface comes from: one completion
// port, a pool of I/O threads blocked in GetQueuedCompletionStatusEx, and
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
// The per-connection logic (queues, closing states, timers, the order of
// notifications) is not here: it is detail::ConnectionCore
// (src/connection_core.hpp), shared with the Linux backend (uring/).
// IocpConnection below only says how each of its steps is a Winsock call.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cpf/server.hpp"
#include "cs/acceptor.hpp"  // accept_backoff
#include "cs/log.hpp"
#include "cs/socket.hpp"
#include "../src/connection_core.hpp"

namespace cpf {
namespace {

using detail::Clock;

// Set on the I/O threads: pause_accepting() cannot wait for a completion on
// the thread that would have to handle it.
thread_local bool on_io_thread = false;

// Accepts kept posted on the listener at once: a burst of clients is taken
// without waiting for an I/O thread to post the next one.
constexpr std::size_t preposted_accepts = 4;

// Completion keys. Every socket is associated with the port under
// `key_operation`; the others mark packets this file posts itself.
constexpr ULONG_PTR key_operation = 0;
constexpr ULONG_PTR key_failed_to_start = 1;  // the operation failed when issued (error inside)
constexpr ULONG_PTR key_quit = 2;             // ends one I/O thread

// Completions one GetQueuedCompletionStatusEx call may take, and how long a
// thread may spend on them before it hands the rest back to the port.
constexpr ULONG completion_batch = 64;
constexpr std::chrono::microseconds batch_budget{100};

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

// The backend's engine: what cpf::Server's calls reach (src/server.cpp,
// through make_engine at the end of this file).
class IocpEngine : public detail::EngineCore {
 public:
  explicit IocpEngine(Server& owner) : EngineCore(owner) {}
  ~IocpEngine() override;

  void start() override;
  void stop(std::chrono::milliseconds grace) override;
  void post(std::function<void()> task) override;
  std::uint16_t port() const override { return port_; }
  std::string address() const override { return address_; }

  // Counts `op` in flight and issues it with `start_io` (WSARecv, WSASend,
  // AcceptEx), which returns 0 or the Winsock error. An operation that
  // fails at once produces no completion packet, so one is posted with the
  // error: every operation then ends in handle(), on an I/O thread, and its
  // caller never has to handle a failure while holding its locks.
  void issue(Operation* op, const std::function<int()>& start_io);
  // Associates a new socket with the port.
  bool associate(SOCKET socket);

 private:
  void open_listener();
  void worker_loop();
  void complete(const OVERLAPPED_ENTRY& entry);  // one dequeued packet
  void post_packet(ULONG_PTR key, DWORD bytes, OVERLAPPED* overlapped);
  void timer_loop();
  void handle(Operation* op, DWORD bytes, int error);
  void on_accept(Operation* op, int error);

  // The accept step's hooks (detail::EngineCore, src/accepting.cpp).
  std::size_t accepts_wanted() const override { return preposted_accepts; }
  std::optional<AcceptOutcome> issue_accept_locked() override;
  void cancel_accepts_locked() override { ::CancelIoEx(reinterpret_cast<HANDLE>(listener_), nullptr); }
  void start_backoff_timer_locked() override;
  void close_listener_locked() override;
  void establish_accepted(Accepted accepted) override;
  void discard_accepted(const Accepted& accepted) override {
    ::closesocket(static_cast<SOCKET>(accepted.socket));
  }
  bool in_io_thread() const override { return on_io_thread; }

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

  // The timer thread: accept back-off and the sweep for idle timeouts and
  // deadlines (src/timers.hpp). It only posts work to the port; the work
  // itself runs on the I/O threads. timer_mutex_ is taken after the accept
  // step's lock (start_backoff_timer_locked), never before it.
  std::thread timer_;
  std::mutex timer_mutex_;
  std::condition_variable timer_changed_;
  bool timer_stopping_ = false;                // guarded by timer_mutex_
  std::optional<Clock::time_point> backoff_until_;  // guarded by timer_mutex_

};

// --- IocpConnection ----------------------------------------------------------

// The IOCP half of a connection: the state machine is
// detail::ConnectionCore's (src/connection_core.hpp); this class says how
// each of its steps is an overlapped call on the connection's socket.
class IocpConnection final : public detail::ConnectionCore {
 public:
  IocpConnection(IocpEngine& server, Id id, std::string peer, SOCKET socket)
      : ConnectionCore(server, id, std::move(peer)), server_(server), socket_(socket) {}
  ~IocpConnection() override {
    if (socket_ != INVALID_SOCKET) ::closesocket(socket_);  // only if never started
  }

  void on_recv_complete(Operation& op, DWORD bytes, int error);
  void on_send_complete(Operation& op, DWORD bytes, int error);

 private:
  bool socket_open_locked() const override { return socket_ != INVALID_SOCKET; }
  void start_recv_locked(BufferPtr buffer) override;
  void start_send_locked(BufferPtr buffer, const Byte* from, std::size_t length) override;
  void shutdown_send_locked() override { ::shutdown(socket_, SD_SEND); }
  // CancelIoEx with the receive's OVERLAPPED cancels that one operation;
  // the sends already issued go on.
  void cancel_recv_locked() override {
    ::CancelIoEx(reinterpret_cast<HANDLE>(socket_), &recv_op_->overlapped);
  }
  // Every operation on the socket completes (WSA_OPERATION_ABORTED, or
  // with what it had done).
  void cancel_all_locked() override { ::CancelIoEx(reinterpret_cast<HANDLE>(socket_), nullptr); }
  void close_socket_locked(bool abortive) override;
  bool on_io_thread() const override { return cpf::on_io_thread; }
  void run_on_io_thread(std::function<void()> task) override { server_.post(std::move(task)); }
  std::shared_ptr<IocpConnection> self() {
    return std::static_pointer_cast<IocpConnection>(shared_from_this());
  }

  IocpEngine& server_;
  // Guarded by the core's mutex_. Closed only by close_socket_locked(),
  // which the core calls when no operation is pending on it: see the file
  // comment.
  SOCKET socket_;
  // The WSARecv in the kernel, for CancelIoEx; valid while the core has a
  // receive in flight (set when it starts, before its completion can come).
  Operation* recv_op_ = nullptr;
};

// --- IocpConnection ------------------------------------------------------------

// The completion's status, in the core's terms.
static detail::ConnectionCore::Outcome outcome_of(DWORD bytes, int error) {
  using Kind = detail::ConnectionCore::Outcome::Kind;
  if (error == 0) return {Kind::done, bytes, {}};
  if (is_cancelled(error)) return {Kind::cancelled, 0, {}};
  if (is_reset(error)) return {Kind::reset, 0, {}};
  return {Kind::failed, 0, std::error_code(error, std::system_category())};
}

void IocpConnection::on_recv_complete(Operation& op, DWORD bytes, int error) {
  BufferPtr buffer = std::move(op.buffer);
  if (!buffer && error == 0) {
    // The zero-byte receive came back: bytes are waiting, or the client
    // closed its side. Now a buffer is worth holding: the core retries the
    // read with it, and that WSARecv completes at once with the bytes (or
    // with 0, the end of the stream).
    recv_finished(server_.owner_.allocator().allocate(), Outcome{Outcome::Kind::retry, 0, {}});
    return;
  }
  if (error == 0 && bytes > 0) buffer->commit(bytes);
  recv_finished(std::move(buffer), outcome_of(bytes, error));
}

void IocpConnection::on_send_complete(Operation& op, DWORD bytes, int error) {
  // An overlapped send normally completes whole, but the contract does not
  // promise it: the core sends the rest of a partial one next.
  op.buffer.reset();
  send_finished(outcome_of(bytes, error));
}

void IocpConnection::start_recv_locked(BufferPtr buffer) {
  // A read() without a buffer of the server's starts as a zero-byte
  // WSARecv: it completes when bytes arrive (or the client closes) and
  // holds no memory while the client is silent, as io_uring's provided
  // buffers do on Linux. A posted buffer would be pinned for as long as the
  // connection is idle: 4 KiB for each of ten thousand quiet clients. The
  // price is a second completion per read (on_recv_complete).
  auto* op = new Operation(Operation::Type::recv);
  op->connection = self();
  op->socket = socket_;
  op->buffer = std::move(buffer);
  const std::span<Byte> room = op->buffer ? op->buffer->space() : std::span<Byte>{};
  recv_op_ = op;
  server_.issue(op, [op, room] {
    WSABUF wsabuf{static_cast<ULONG>(std::min<std::size_t>(room.size(), ULONG_MAX)),
                  reinterpret_cast<char*>(room.data())};
    DWORD flags = 0;
    return ::WSARecv(op->socket, &wsabuf, 1, nullptr, &flags, &op->overlapped, nullptr) == 0
               ? 0
               : ::WSAGetLastError();
  });
}

void IocpConnection::start_send_locked(BufferPtr buffer, const Byte* from, std::size_t length) {
  auto* op = new Operation(Operation::Type::send);
  op->connection = self();
  op->socket = socket_;
  op->buffer = std::move(buffer);  // the kernel reads it until the completion
  server_.issue(op, [op, from, length] {
    WSABUF wsabuf{static_cast<ULONG>(std::min<std::size_t>(length, ULONG_MAX)),
                  reinterpret_cast<char*>(const_cast<Byte*>(from))};
    return ::WSASend(op->socket, &wsabuf, 1, nullptr, 0, &op->overlapped, nullptr) == 0
               ? 0
               : ::WSAGetLastError();
  });
}

void IocpConnection::close_socket_locked(bool abortive) {
  if (abortive) {
    // Linger on with a zero timeout: closesocket() sends RST and discards
    // unsent data, the meaning of an abortive close.
    const linger hard{1, 0};
    ::setsockopt(socket_, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&hard), sizeof hard);
  }
  ::closesocket(socket_);
  socket_ = INVALID_SOCKET;
}

// --- IocpEngine ----------------------------------------------------------------

IocpEngine::~IocpEngine() {
  if (listener_ != INVALID_SOCKET) ::closesocket(listener_);
  if (port_handle_ != nullptr) ::CloseHandle(port_handle_);
  if (winsock_ready_) ::WSACleanup();
}

void IocpEngine::issue(Operation* op, const std::function<int()>& start_io) {
  operation_issued();
  const int error = start_io();
  if (error == 0 || error == WSA_IO_PENDING) return;  // a completion packet will come
  op->failed_to_start = error;
  post_packet(key_failed_to_start, 0, &op->overlapped);
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
  // The last argument is the port's concurrency value: the most threads
  // the kernel lets run at once after taking a completion (0 would mean one
  // per processor). While one of them blocks, it may release another
  // waiting thread in its place. The pool has exactly `threads` threads, so
  // this value holds none back: blocking in a handler is not expected here.
  // The classic design starts more threads than the value, so that a spare
  // thread covers a handler that blocks.
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
  start_accepting();
}

void IocpEngine::worker_loop() {
  on_io_thread = true;
  std::array<OVERLAPPED_ENTRY, completion_batch> entries{};
  for (;;) {
    // One system call takes every completion queued, up to the batch: under
    // load a thread then handles many per wake-up, as the Linux port does.
    ULONG count = 0;
    if (!::GetQueuedCompletionStatusEx(port_handle_, entries.data(), completion_batch, &count, INFINITE,
                                       FALSE)) {
      // With an infinite wait and no alertable wait, failing means the port
      // itself failed. Nothing can make progress from here, so stop loudly
      // rather than spin or hang.
      cs::log_error("GetQueuedCompletionStatusEx failed: ",
                    text_of(static_cast<int>(::GetLastError())));
      std::abort();
    }
    const auto batch_start = Clock::now();
    detail::LoopClock::set(batch_start);  // the completions' time stamp
    bool quit = false;
    for (ULONG i = 0; i < count; ++i) {
      const OVERLAPPED_ENTRY& entry = entries[i];
      if (entry.lpOverlapped == nullptr) {  // key_quit: stop() posts one per thread
        if (quit) post_packet(key_quit, 0, nullptr);  // a second one is another thread's
        quit = true;
        continue;
      }
      complete(entry);
      // A completion must not wait behind a handler that computes while
      // another thread could take it: after 100 us, the rest of the batch
      // goes back to the port, where any free thread dequeues it.
      if (i + 1 >= count) continue;
      const auto now = Clock::now();
      detail::LoopClock::set(now);
      if (now - batch_start > batch_budget) {
        for (ULONG j = i + 1; j < count; ++j) {
          post_packet(entries[j].lpCompletionKey, entries[j].dwNumberOfBytesTransferred,
                      entries[j].lpOverlapped);
        }
        break;
      }
    }
    if (quit) return;  // stop() posts the quits once no operation is in flight
  }
}

void IocpEngine::complete(const OVERLAPPED_ENTRY& entry) {
  auto* op = reinterpret_cast<Operation*>(entry.lpOverlapped);  // the OVERLAPPED is its first member
  int error = 0;
  if (entry.lpCompletionKey == key_failed_to_start) {
    error = op->failed_to_start;
  } else if (op->overlapped.Internal != 0) {
    // The entry carries no status; the kernel leaves the operation's final
    // NTSTATUS in the OVERLAPPED (0 is success, and posted packets keep the
    // zero they were made with). Ask Winsock for the error in its own terms.
    DWORD transferred = 0;
    DWORD flags = 0;
    if (!::WSAGetOverlappedResult(op->socket, &op->overlapped, &transferred, FALSE, &flags)) {
      error = ::WSAGetLastError();
      if (error == 0) error = static_cast<int>(::GetLastError());
    }
  }
  handle(op, entry.dwNumberOfBytesTransferred, error);
  operation_handled();
}

void IocpEngine::post_packet(ULONG_PTR key, DWORD bytes, OVERLAPPED* overlapped) {
  if (!::PostQueuedCompletionStatus(port_handle_, bytes, key, overlapped)) {
    // The port itself is broken: no operation could complete again.
    cs::log_error("PostQueuedCompletionStatus failed: ", text_of(static_cast<int>(::GetLastError())));
    std::abort();
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
      run_posted(op->task);
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
      post([this] { backoff_finished(); });
    }
    if (now >= next_sweep) {
      next_sweep = now + sweep_period;
      post([this] { sweep(Clock::now()); });
    }
  }
}

std::optional<detail::EngineCore::AcceptOutcome> IocpEngine::issue_accept_locked() {
  // AcceptEx accepts into a socket made in advance.
  const SOCKET client = ::WSASocketW(listener_family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0,
                                     WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (client == INVALID_SOCKET) {
    const int error = ::WSAGetLastError();
    if (error == WSAEMFILE || error == WSAENOBUFS) {
      return AcceptOutcome{AcceptOutcome::Kind::exhausted, {}, text_of(error)};
    }
    return AcceptOutcome{AcceptOutcome::Kind::failed, {},
                         "cannot create a socket to accept into: " + text_of(error)};
  }
  auto* op = new Operation(Operation::Type::accept);
  op->socket = listener_;
  op->accepted = client;
  issue(op, [this, op] {
    DWORD received = 0;
    // No bytes are read with the accept (receive length 0): a client that
    // connects and waits for the greeting must complete at once.
    return accept_ex_(op->socket, op->accepted, op->addresses, 0, accept_address_length,
                      accept_address_length, &received, &op->overlapped)
               ? 0
               : ::WSAGetLastError();
  });
  return std::nullopt;
}

void IocpEngine::on_accept(Operation* op, int error) {
  const SOCKET client = op->accepted;
  AcceptOutcome outcome;
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
    outcome.kind = AcceptOutcome::Kind::accepted;
    outcome.accepted = {static_cast<std::uintptr_t>(client), endpoint_of(remote, remote_length).to_string()};
  } else {
    ::closesocket(client);  // made for this accept, never connected
    if (is_cancelled(error) || error == WSAECONNRESET || error == WSAECONNABORTED ||
        error == ERROR_NETNAME_DELETED) {
      outcome.kind = AcceptOutcome::Kind::gone;  // pause or stop, or the client gave up
    } else if (error == WSAEMFILE || error == WSAENOBUFS || error == ERROR_NOT_ENOUGH_MEMORY) {
      outcome = {AcceptOutcome::Kind::exhausted, {}, text_of(error)};
    } else {
      outcome = {AcceptOutcome::Kind::failed, {}, "accept failed: " + text_of(error)};
    }
  }
  delete op;
  accept_finished(std::move(outcome));
}

void IocpEngine::start_backoff_timer_locked() {
  std::lock_guard timer_lock(timer_mutex_);
  backoff_until_ = Clock::now() + cs::accept_backoff;
  timer_changed_.notify_all();
}

void IocpEngine::close_listener_locked() {
  ::closesocket(listener_);
  listener_ = INVALID_SOCKET;
}

void IocpEngine::establish_accepted(Accepted accepted) {
  const auto socket = static_cast<SOCKET>(accepted.socket);
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
  EngineCore::establish(
      std::make_shared<IocpConnection>(*this, next_id(), std::move(accepted.peer), socket));
}

void IocpEngine::post(std::function<void()> task) {
  if (!started_ || port_handle_ == nullptr) throw std::logic_error("cpf::Server::post before start()");
  auto* op = new Operation(Operation::Type::post);
  op->task = std::move(task);
  operation_issued();
  post_packet(key_operation, 0, &op->overlapped);
}

void IocpEngine::stop(std::chrono::milliseconds grace) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  const auto deadline = Clock::now() + grace;

  // 1. Stop accepting; the listener closes once no accept refers to it.
  stop_accepting();
  // 2. and 3. The server's goodbye, the grace period, then aborts.
  close_connections(deadline);

  // 4. Stop the timer thread, wait until no operation is in flight (posted
  //    tasks included), then end the I/O threads.
  {
    std::lock_guard lock(timer_mutex_);
    timer_stopping_ = true;
  }
  timer_changed_.notify_all();
  timer_.join();
  wait_for_no_operations();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    post_packet(key_quit, 0, nullptr);
  }
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  ::CloseHandle(port_handle_);
  port_handle_ = nullptr;
}

// --- the engine src/server.cpp uses ---------------------------------------------

namespace detail {
std::unique_ptr<EngineCore> make_engine(Server& owner) { return std::make_unique<IocpEngine>(owner); }
}  // namespace detail

}  // namespace cpf
