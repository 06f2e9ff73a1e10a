// The Linux backend of cpf::Server: io_uring (through liburing) as the
// completion port.
//
// Threading: ONE ring PER I/O THREAD, and each connection belongs to one
// ring (chosen round-robin when it is accepted). This is where io_uring and
// IOCP differ most. An I/O completion port is a queue any thread may wait
// on: the kernel finishes the I/O on its own and any waiting thread takes
// the result. io_uring finishes a request that had to wait (a recv for
// data, an accept for a client) with "task work" that runs in the thread
// that SUBMITTED it. On a ring shared by several threads, a thread other
// than the one waiting must be interrupted to run that work (an IPI, and a
// recv retried while the sender's CPU still holds the socket lock). One
// ring shared by the I/O threads, IOCP style, spends about half its time in
// that lock (docs/part4_iocp.md has the profile and the numbers). With one
// ring per thread the thread that
// submits is the thread that waits, so the kernel may defer the task work
// until that thread asks for completions (IORING_SETUP_DEFER_TASKRUN,
// Linux 6.1; COOP_TASKRUN on 5.19), and each wake-up handles a batch:
//
//   I/O thread k:  loop { submit every SQE prepared since the last loop
//                         and wait for >= 1 completion   (one io_uring_enter)
//                         take up to 64 completions, handle each
//                         (submitting early if the batch runs 100 us) }
//
// Only ring k's thread touches ring k, so the rings need no lock. Another
// thread (an I/O thread writing to a connection of another ring, a timer
// thread, stop()) queues its request on the ring (marshal_mutex) and wakes
// the ring's thread through an eventfd that ring always has a read posted
// on. The ring's thread submits queued requests before any of its own, so
// requests reach the kernel in the order they were made: a cancel never
// overtakes the recv it cancels.
//
// The per-connection logic (queues, closing states, timers, the order of
// notifications) is detail::ConnectionCore (src/connection_core.hpp),
// shared with the Windows backend (iocp/); UringConnection below only says
// how each of its steps is a submission on the connection's ring.
//
// Per connection, the kernel sees at most one recv and one send at a time.
// Several recvs or sends in flight on one TCP socket may be served in any
// order by the kernel, and a short send followed by the next send would
// interleave bytes on the wire; so reads and writes the server issues are
// queued here and handed to the kernel one after another. The server still
// issues as many as it likes ("several outstanding"), and ordering is by
// construction rather than by hope. Notifications of one connection may run
// on any I/O thread (a timer sweep, a write from another connection's
// notification); the Sequencer (src/sequencer.hpp) keeps them in order, as
// on Windows.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cpf/server.hpp"
#include "cs/acceptor.hpp"
#include "cs/log.hpp"
#include "cs/socket.hpp"
#include "../src/connection_core.hpp"

namespace cpf {
namespace {

using detail::Clock;

struct Ring;
// The ring of the I/O thread this is, or null on any other thread.
// pause_accepting() cannot wait for a completion on the thread that would
// have to handle it, and only a ring's own thread may submit to it.
thread_local Ring* current_ring = nullptr;
bool on_io_thread() { return current_ring != nullptr; }

// user_data of submissions whose completion needs no handling (cancels,
// timeout removals), of the no-op that ends an I/O thread and of the read of
// a ring's eventfd. Real operations carry an Operation*, never this small.
constexpr std::uint64_t ignored_completion = 1;
constexpr std::uint64_t quit_completion = 2;
constexpr std::uint64_t wake_completion = 3;  // requests from other threads are waiting

// Fills one submission queue entry: a request another thread queued for a
// ring (UringEngine::marshal).
using Prepare = std::function<void(io_uring_sqe*)>;

// One I/O thread's ring. Everything but the marshalled requests is touched
// by that thread only (and by start()/stop() while the thread is not
// running).
struct Ring {
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    if (ready) io_uring_queue_exit(&uring);  // cancels what it still holds
    if (offered != nullptr) ::munmap(offered, offered_bytes);
  }

  io_uring uring{};
  bool ready = false;
  std::thread thread;
  cs::FileDescriptor wake_fd;  // eventfd; a read of it is always posted
  std::uint64_t wake_value = 0;  // the kernel's read of wake_fd lands here
  // Requests from other threads, in the order they were made.
  std::mutex marshal_mutex;
  std::vector<std::pair<std::uint64_t, Prepare>> marshalled;  // guarded by marshal_mutex
  // Whether `marshalled` holds requests, which is also whether the ring's
  // thread has been woken for them. Written under marshal_mutex; read
  // without it as a hint.
  std::atomic<bool> has_marshalled{false};

  // Receive buffers the kernel picks from when data arrives (a "provided
  // buffer ring", IORING_REGISTER_PBUF_RING, Linux 5.19): a recv of a
  // framework read names this group instead of a buffer, so an idle
  // connection holds no buffer while it waits. The ring's thread copies the
  // bytes into a pooled cpf::Buffer and gives the slot straight back.
  unsigned provided_count = 0;  // a power of two (ServerOptions::provided_buffers)
  static constexpr std::uint16_t provided_group = 0;
  io_uring_buf_ring* offered = nullptr;  // the slots the kernel may take
  std::size_t offered_bytes = 0;
  std::unique_ptr<Byte[]> provided;  // provided_count buffers of provided_size
  std::size_t provided_size = 0;

  Byte* provided_buffer(unsigned id) { return provided.get() + std::size_t{id} * provided_size; }
  void give_back(unsigned id) {
    io_uring_buf_ring_add(offered, provided_buffer(id), static_cast<unsigned>(provided_size),
                          static_cast<unsigned short>(id), io_uring_buf_ring_mask(provided_count), 0);
    io_uring_buf_ring_advance(offered, 1);
  }
};

std::string peer_name(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = {};
  cs::Endpoint endpoint;
  if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    endpoint = {text, ntohs(in6->sin6_port)};
  } else {
    const auto* in4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
    endpoint = {text, ntohs(in4->sin_port)};
  }
  return endpoint.to_string();
}

bool is_reset(int error) { return error == ECONNRESET || error == EPIPE || error == ETIMEDOUT; }

}  // namespace

class UringConnection;

// One submission in flight. Created by the submitting thread, deleted by
// the I/O thread that handles its completion.
struct Operation {
  enum class Type { accept, recv, send, accept_backoff, sweep, post };
  explicit Operation(Type t) : type(t) {}

  Type type;
  // The per-operation reference on the connection: while this operation is
  // in flight the connection object cannot be destroyed, whoever else lets
  // go of it. (Its descriptor is protected separately: see in_flight_.)
  std::shared_ptr<UringConnection> connection;
  BufferPtr buffer;            // recv/send: the kernel reads or fills it
  std::function<void()> task;  // post
  __kernel_timespec timeout{};  // accept_backoff, sweep: read by the kernel
  // The kernel orders "submitted" before "completed", but ThreadSanitizer
  // cannot see inside the kernel; this release/acquire pair tells it that
  // everything the submitting thread wrote (this struct, the buffer's bytes)
  // happens before the handling thread reads it.
  std::atomic<bool> published{false};
};

// --- UringEngine ------------------------------------------------------------

// The backend's engine: what cpf::Server's calls reach (src/server.cpp,
// through make_engine at the end of this file).
class UringEngine : public detail::EngineCore {
 public:
  explicit UringEngine(Server& owner) : EngineCore(owner) {}

  void start() override;
  void stop(std::chrono::milliseconds grace) override;
  void post(std::function<void()> task) override;
  std::uint16_t port() const override { return port_; }
  std::string address() const override { return address_; }

  // Submits `op` (owned by the ring until its completion is handled) on
  // `ring`. Thread-safe. `prepare(io_uring_sqe*)` fills the SQE.
  template <typename Fill>
  void submit(Ring& ring, Operation* op, Fill&& prepare) {
    const auto user_data = reinterpret_cast<std::uint64_t>(op);
    if (current_ring == &ring) {
      operation_issued();
      op->published.store(true, std::memory_order_release);
      put_here(ring, user_data, prepare);
      return;
    }
    // Type-erased (which may allocate, and throw) before the operation
    // counts as in flight: stop() waits for every operation counted.
    Prepare queued(std::forward<Fill>(prepare));
    operation_issued();
    op->published.store(true, std::memory_order_release);
    marshal(ring, user_data, std::move(queued));
  }
  // Submits an operation whose completion is ignored (cancels).
  template <typename Fill>
  void submit_ignored(Ring& ring, Fill&& prepare) {
    submit_entry(ring, ignored_completion, std::forward<Fill>(prepare));
  }
  // The ring the next connection belongs to (round-robin).
  Ring& next_ring() { return *rings_[next_ring_.fetch_add(1, std::memory_order_relaxed) % rings_.size()]; }
  void run_on_ring(Ring& ring, std::function<void()> task);


 private:
  // On the ring's own thread a request only fills an SQE, at once: the
  // thread's loop hands everything it prepared to the kernel in one
  // io_uring_enter before it waits, and the closure is neither stored nor
  // allocated. Any other thread queues the request (marshal()) and wakes
  // the ring's thread; requests queued earlier go into the ring before this
  // thread's own, so the kernel sees every request in the order it was made.
  template <typename Fill>
  void submit_entry(Ring& ring, std::uint64_t user_data, Fill&& prepare) {
    if (current_ring == &ring) {
      put_here(ring, user_data, prepare);
    } else {
      marshal(ring, user_data, Prepare(std::forward<Fill>(prepare)));
    }
  }
  // The ring's own thread: requests other threads queued first, then this one.
  template <typename Fill>
  static void put_here(Ring& ring, std::uint64_t user_data, Fill&& prepare) {
    if (ring.has_marshalled.load(std::memory_order_acquire)) flush_marshalled(ring);
    put(ring, user_data, prepare);
  }
  static void marshal(Ring& ring, std::uint64_t user_data, Prepare prepare);
  static io_uring_sqe* next_sqe(Ring& ring);  // the ring's own thread only
  static void flush_marshalled(Ring& ring);   // the ring's own thread only
  // Fills the next SQE of `ring`; the ring's own thread only.
  template <typename Fill>
  static void put(Ring& ring, std::uint64_t user_data, Fill&& prepare) {
    io_uring_sqe* sqe = next_sqe(ring);
    prepare(sqe);
    io_uring_sqe_set_data64(sqe, user_data);
  }
  static void arm_wake(Ring& ring);  // the ring's own thread only
  void open_ring(Ring& ring, std::promise<void>& opened);
  void worker_loop(Ring& ring, std::promise<void>& opened);
  void handle(Operation* op, int result, unsigned flags);
  void on_accept(int result);
  void on_sweep(Operation* op);
  Ring& accept_ring() { return *rings_.front(); }  // accepts and the sweep

  // The accept step's hooks (detail::EngineCore, src/accepting.cpp).
  // One accept at a time: its completion is handled on the accept ring's
  // thread, which issues the next one in the same pass, before it waits.
  std::size_t accepts_wanted() const override { return 1; }
  std::optional<AcceptOutcome> issue_accept_locked() override;
  void cancel_accepts_locked() override;
  void start_backoff_timer_locked() override;
  void close_listener_locked() override { listener_.reset(); }
  void establish_accepted(Accepted accepted) override;
  void discard_accepted(const Accepted& accepted) override { ::close(static_cast<int>(accepted.socket)); }
  bool in_io_thread() const override { return on_io_thread(); }

  std::vector<std::unique_ptr<Ring>> rings_;  // fixed between start() and stop()
  std::atomic<std::size_t> next_ring_{0};
  std::atomic<bool> rings_ready_{false};
  std::string task_run_mode_;  // how the kernel runs task work (logged at start)

  cs::FileDescriptor listener_;
  std::uint16_t port_ = 0;
  std::string address_;
  bool started_ = false;  // owner thread only
  bool stopped_ = false;  // owner thread only

  // The sweep's timeout operation. sweep_mutex_, like the accept step's
  // lock, is taken before a ring's marshal_mutex, never after.
  std::mutex sweep_mutex_;
  Operation* sweep_timer_ = nullptr;  // armed sweep; guarded by sweep_mutex_
  bool timer_stopping_ = false;       // guarded by sweep_mutex_
};

// --- UringConnection ---------------------------------------------------------

// The io_uring half of a connection: the state machine is
// detail::ConnectionCore's (src/connection_core.hpp); this class says how
// each of its steps is a submission on the connection's ring.
class UringConnection final : public detail::ConnectionCore {
 public:
  UringConnection(UringEngine& server, Ring& ring, Id id, std::string peer, cs::FileDescriptor fd)
      : ConnectionCore(server, id, std::move(peer)), server_(server), ring_(ring), fd_(std::move(fd)) {}

  void on_recv_complete(Operation& op, int result, unsigned flags);
  void on_send_complete(Operation& op, int result);

 private:
  bool socket_open_locked() const override { return static_cast<bool>(fd_); }
  void start_recv_locked(BufferPtr buffer) override;
  void start_send_locked(BufferPtr buffer, const Byte* from, std::size_t length) override;
  void shutdown_send_locked() override { ::shutdown(fd_.get(), SHUT_WR); }
  // Shutting down the receiving side completes a recv waiting in the kernel
  // (with 0, which the core drops: the server asked to close) without
  // touching the sends.
  void cancel_recv_locked() override { ::shutdown(fd_.get(), SHUT_RD); }
  void cancel_all_locked() override;
  void close_socket_locked(bool abortive) override;
  bool on_io_thread() const override;
  void run_on_io_thread(std::function<void()> task) override;
  std::shared_ptr<UringConnection> self() {
    return std::static_pointer_cast<UringConnection>(shared_from_this());
  }

  UringEngine& server_;
  Ring& ring_;  // where this connection's operations are submitted
  // Closed only by close_socket_locked(), which the core calls when no
  // operation names the descriptor any more (guarded by the core's mutex_).
  cs::FileDescriptor fd_;
};

// The kernel's result, in the core's terms.
static detail::ConnectionCore::Outcome outcome_of(int result, bool may_retry_without_buffer) {
  using Kind = detail::ConnectionCore::Outcome::Kind;
  if (result >= 0) return {Kind::done, static_cast<std::size_t>(result), {}};
  const int error = -result;
  if (error == EINTR || error == EAGAIN || (may_retry_without_buffer && error == ENOBUFS)) {
    return {Kind::retry, 0, {}};
  }
  if (error == ECANCELED) return {Kind::cancelled, 0, {}};
  if (is_reset(error)) return {Kind::reset, 0, {}};
  return {Kind::failed, 0, std::error_code(error, std::system_category())};
}

void UringConnection::on_recv_complete(Operation& op, int result, unsigned flags) {
  BufferPtr buffer = std::move(op.buffer);
  if (flags & IORING_CQE_F_BUFFER) {
    // The bytes are in a provided buffer: copy them into one of the
    // allocator's (the server may keep it as long as it likes) and give the
    // slot back to the kernel at once.
    const unsigned id = flags >> IORING_CQE_BUFFER_SHIFT;
    if (result > 0) {
      buffer = server_.owner_.allocator().allocate();
      buffer->append(ByteView(ring_.provided_buffer(id), static_cast<std::size_t>(result)));
    }
    ring_.give_back(id);
  } else if (result > 0) {
    buffer->commit(static_cast<std::size_t>(result));
  }
  // ENOBUFS: every provided buffer was taken by the recvs this batch
  // completed; they are given back before this recv reaches the kernel
  // again (at the ring's next io_uring_enter).
  recv_finished(std::move(buffer), outcome_of(result, true));
}

void UringConnection::on_send_complete(Operation& op, int result) {
  op.buffer.reset();
  send_finished(outcome_of(result, false));
}

void UringConnection::start_recv_locked(BufferPtr buffer) {
  auto* op = new Operation(Operation::Type::recv);
  op->connection = self();
  op->buffer = std::move(buffer);
  const int fd = fd_.get();
  if (!op->buffer) {
    // No buffer yet: the kernel takes a provided one when data arrives.
    const auto size = static_cast<unsigned>(ring_.provided_size);
    server_.submit(ring_, op, [=](io_uring_sqe* sqe) {
      io_uring_prep_recv(sqe, fd, nullptr, size, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = Ring::provided_group;
    });
    return;
  }
  const std::span<Byte> room = op->buffer->space();
  server_.submit(ring_, op, [=](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, fd, room.data(), room.size(), 0); });
}

void UringConnection::start_send_locked(BufferPtr buffer, const Byte* from, std::size_t length) {
  auto* op = new Operation(Operation::Type::send);
  op->connection = self();
  op->buffer = std::move(buffer);  // the kernel reads it until the completion
  const int fd = fd_.get();
  server_.submit(ring_, op, [=](io_uring_sqe* sqe) { io_uring_prep_send(sqe, fd, from, length, MSG_NOSIGNAL); });
}

void UringConnection::cancel_all_locked() {
  const int fd = fd_.get();
  server_.submit_ignored(
      ring_, [=](io_uring_sqe* sqe) { io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL); });
}

void UringConnection::close_socket_locked(bool abortive) {
  if (abortive) {
    // Linger on with a zero timeout: close() sends RST and discards unsent
    // data, the meaning of an abortive close.
    const linger hard{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }
  fd_.reset();
}

bool UringConnection::on_io_thread() const { return cpf::on_io_thread(); }

void UringConnection::run_on_io_thread(std::function<void()> task) {
  server_.run_on_ring(ring_, std::move(task));
}

// --- UringEngine ------------------------------------------------------------

// The next free SQE of `ring`. When the queue is full, what it holds goes
// to the kernel first (without waiting), which frees it.
io_uring_sqe* UringEngine::next_sqe(Ring& ring) {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring.uring)) return sqe;
    const int submitted = io_uring_submit(&ring.uring);
    if (submitted >= 0 || submitted == -EBUSY || submitted == -EAGAIN || submitted == -EINTR) continue;
    // Anything else means the ring itself is unusable; no connection could
    // make progress, so stop loudly rather than hang.
    cs::log_error("io_uring_submit failed: ", std::strerror(-submitted));
    std::abort();
  }
}

void UringEngine::flush_marshalled(Ring& ring) {
  std::vector<std::pair<std::uint64_t, Prepare>> requests;
  {
    std::lock_guard lock(ring.marshal_mutex);
    requests.swap(ring.marshalled);
    ring.has_marshalled.store(false, std::memory_order_relaxed);
  }
  for (auto& [user_data, prepare] : requests) put(ring, user_data, prepare);
}

void UringEngine::marshal(Ring& ring, std::uint64_t user_data, Prepare prepare) {
  bool wake = false;
  {
    std::lock_guard lock(ring.marshal_mutex);
    ring.marshalled.emplace_back(user_data, std::move(prepare));
    wake = !ring.has_marshalled.exchange(true, std::memory_order_release);
  }
  // One wake-up per batch of queued requests: the first request queued
  // after the ring's thread took the last batch wakes it.
  if (wake && ::eventfd_write(ring.wake_fd.get(), 1) != 0) {
    cs::log_error("waking an I/O thread failed: ", std::strerror(errno));
    std::abort();
  }
}

// Posts the read that completes when another thread writes to the ring's
// eventfd. Its user_data is a constant, so it is not counted in flight.
void UringEngine::arm_wake(Ring& ring) {
  put(ring, wake_completion, [&ring](io_uring_sqe* sqe) {
    io_uring_prep_read(sqe, ring.wake_fd.get(), &ring.wake_value, sizeof ring.wake_value, 0);
  });
}

namespace {

// The fastest way the kernel offers to run task work for a ring that one
// thread both submits to and waits on, and what it is called in the log.
struct TaskRunMode {
  unsigned flags;
  const char* name;
};
constexpr TaskRunMode task_run_modes[] = {
    // 6.1: task work waits until the thread asks for completions.
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "deferred task work"},
    // 5.19: no interrupt; task work runs on the thread's next kernel entry.
    // Every kernel with the provided buffer rings the port needs has it.
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "cooperative task work"},
};

}  // namespace

// Runs on the ring's own thread: with IORING_SETUP_SINGLE_ISSUER the
// thread that creates a ring is the only one that may submit to it.
void UringEngine::open_ring(Ring& ring, std::promise<void>& opened) {
  const ServerOptions& options = owner_.options();
  // A completion queue larger than the submission queue: every connection
  // keeps a recv in flight, so completions can far outnumber one batch of
  // submissions. (The kernel also buffers overflow, IORING_FEAT_NODROP.)
  int result = -EINVAL;
  for (const TaskRunMode& mode : task_run_modes) {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | mode.flags;
    params.cq_entries = std::max(4096u, options.queue_depth * 8);
    result = io_uring_queue_init_params(std::max(8u, options.queue_depth), &ring.uring, &params);
    if (result != -EINVAL) {
      if (result == 0 && &ring == rings_.front().get()) task_run_mode_ = mode.name;
      break;
    }
  }
  if (result < 0) {
    throw cs::SetupError(std::string("cannot create an io_uring: ") + std::strerror(-result) +
                         " (io_uring needs Linux 5.19 or later; containers may block it with seccomp,"
                         " and /proc/sys/kernel/io_uring_disabled may turn it off)");
  }
  ring.ready = true;

  // The provided buffers, registered by hand (liburing 2.3 has no
  // io_uring_setup_buf_ring): the slot array must be page-aligned memory
  // the kernel maps, so it comes from mmap.
  // The kernel wants a power of two, at most 32768.
  ring.provided_count = std::bit_ceil(std::clamp(options.provided_buffers, 1u, 32768u));
  ring.offered_bytes = sizeof(io_uring_buf) * ring.provided_count;
  void* slots = ::mmap(nullptr, ring.offered_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (slots == MAP_FAILED) throw cs::SetupError(std::string("mmap: ") + std::strerror(errno));
  ring.offered = static_cast<io_uring_buf_ring*>(slots);
  io_uring_buf_reg registration{};
  registration.ring_addr = reinterpret_cast<std::uint64_t>(slots);
  registration.ring_entries = ring.provided_count;
  registration.bgid = Ring::provided_group;
  result = io_uring_register_buf_ring(&ring.uring, &registration, 0);
  if (result < 0) {
    throw cs::SetupError(std::string("cannot register io_uring receive buffers: ") + std::strerror(-result) +
                         " (provided buffer rings need Linux 5.19 or later)");
  }
  io_uring_buf_ring_init(ring.offered);
  ring.provided_size = options.buffer_size;
  // Not zeroed: a page the kernel never filled stays out of resident memory.
  ring.provided = std::make_unique_for_overwrite<Byte[]>(ring.provided_size * ring.provided_count);
  for (unsigned id = 0; id < ring.provided_count; ++id) ring.give_back(id);

  const int wake = ::eventfd(0, EFD_CLOEXEC);
  if (wake < 0) throw cs::SetupError(std::string("eventfd: ") + std::strerror(errno));
  ring.wake_fd = cs::FileDescriptor(wake);
  arm_wake(ring);
  io_uring_submit(&ring.uring);
  opened.set_value();
}

void UringEngine::start() {
  if (started_) throw std::logic_error("cpf::Server::start called twice");
  const ServerOptions& options = owner_.options();
  listener_ = cs::listen_tcp(options.host, options.port, options.backlog);
  const cs::Endpoint endpoint = cs::local_endpoint(listener_.get());
  port_ = endpoint.port;
  address_ = endpoint.to_string();

  const unsigned threads = std::max(1u, options.threads);
  std::vector<std::promise<void>> opened(threads);
  for (unsigned i = 0; i < threads; ++i) rings_.push_back(std::make_unique<Ring>());
  for (unsigned i = 0; i < threads; ++i) {
    Ring& ring = *rings_[i];
    ring.thread = std::thread([this, &ring, &promise = opened[i]] { worker_loop(ring, promise); });
  }
  std::exception_ptr failure;
  for (auto& promise : opened) {
    try {
      promise.get_future().get();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  started_ = true;
  if (failure) {
    // The rings that opened end at once; nothing was submitted to them.
    for (auto& ring : rings_) {
      if (ring->wake_fd) submit_entry(*ring, quit_completion, [](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
    }
    for (auto& ring : rings_) ring->thread.join();
    rings_.clear();
    stopped_ = true;
    std::rethrow_exception(failure);
  }
  rings_ready_ = true;
  cs::log_debug("io_uring: ", threads, " rings, ", task_run_mode_);

  start_accepting();
  // The sweep for idle timeouts and deadlines (src/timers.hpp): always
  // armed, since any connection may be given a deadline.
  std::lock_guard lock(sweep_mutex_);
  const auto period = detail::sweep_period(options);
  sweep_timer_ = new Operation(Operation::Type::sweep);
  sweep_timer_->timeout.tv_sec = period.count() / 1000;
  sweep_timer_->timeout.tv_nsec = (period.count() % 1000) * 1'000'000;
  Operation* timer = sweep_timer_;
  submit(accept_ring(), timer, [=](io_uring_sqe* sqe) { io_uring_prep_timeout(sqe, &timer->timeout, 0, 0); });
}

void UringEngine::worker_loop(Ring& ring, std::promise<void>& opened) {
  try {
    open_ring(ring, opened);
  } catch (...) {
    opened.set_exception(std::current_exception());
    return;
  }
  current_ring = &ring;
  constexpr unsigned batch = 64;
  // How long a prepared submission may wait for the rest of its batch.
  constexpr auto prompt_submit = std::chrono::microseconds(100);
  struct Completion {
    std::uint64_t user_data;
    int result;
    unsigned flags;
  } completions[batch];
  for (;;) {
    if (ring.has_marshalled.load(std::memory_order_acquire)) flush_marshalled(ring);
    // Everything this thread prepared goes to the kernel, and the thread
    // waits for a completion, in one system call. With deferred task work
    // this call is also where the kernel finishes the recvs whose data came.
    const int waited = io_uring_submit_and_wait(&ring.uring, 1);
    if (waited < 0 && waited != -EINTR && waited != -EAGAIN && waited != -EBUSY && waited != -ETIME) {
      cs::log_error("io_uring_submit_and_wait failed: ", std::strerror(-waited));
      std::abort();
    }
    // Copy the batch out and hand the slots back to the kernel before
    // handling: a handler's submissions may need the kernel to post more.
    io_uring_cqe* cqes[batch];
    const unsigned count = io_uring_peek_batch_cqe(&ring.uring, cqes, batch);
    for (unsigned i = 0; i < count; ++i) completions[i] = {io_uring_cqe_get_data64(cqes[i]), cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(&ring.uring, count);

    bool quit = false;
    auto submitted_at = Clock::now();
    detail::LoopClock::set(submitted_at);  // the completions' time stamp
    for (unsigned i = 0; i < count; ++i) {
      // A reply prepared early in the batch waits for the io_uring_enter at
      // its end. Handlers are usually a few microseconds, but one that
      // computes for long would hold back every reply before it, so what
      // is prepared goes to the kernel once the batch has run for a while.
      if (i > 0 && io_uring_sq_ready(&ring.uring) > 0) {
        const auto now = Clock::now();
        detail::LoopClock::set(now);
        if (now - submitted_at >= prompt_submit) {
          io_uring_submit(&ring.uring);
          submitted_at = now;
        }
      }
      const auto [user_data, result, flags] = completions[i];
      if (user_data == quit_completion) {
        quit = true;
      } else if (user_data == ignored_completion) {
      } else if (user_data == wake_completion) {
        flush_marshalled(ring);
        arm_wake(ring);
      } else {
        auto* op = reinterpret_cast<Operation*>(user_data);
        (void)op->published.load(std::memory_order_acquire);
        handle(op, result, flags);
        operation_handled();
      }
    }
    if (quit) break;
  }
  current_ring = nullptr;
}

void UringEngine::handle(Operation* op, int result, unsigned flags) {
  switch (op->type) {
    case Operation::Type::accept:
      delete op;
      on_accept(result);
      return;
    case Operation::Type::recv:
      op->connection->on_recv_complete(*op, result, flags);
      break;
    case Operation::Type::send:
      op->connection->on_send_complete(*op, result);
      break;
    case Operation::Type::accept_backoff:
      delete op;
      backoff_finished();
      return;
    case Operation::Type::sweep:
      on_sweep(op);  // re-arms or deletes it
      return;
    case Operation::Type::post:
      run_posted(op->task);
      break;
  }
  delete op;
}

std::optional<detail::EngineCore::AcceptOutcome> UringEngine::issue_accept_locked() {
  auto* op = new Operation(Operation::Type::accept);
  const int fd = listener_.get();
  submit(accept_ring(), op, [=](io_uring_sqe* sqe) { io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC); });
  return std::nullopt;  // a failure comes back as the accept's completion
}

void UringEngine::cancel_accepts_locked() {
  const int fd = listener_.get();
  submit_ignored(accept_ring(), [=](io_uring_sqe* sqe) { io_uring_prep_cancel_fd(sqe, fd, 0); });
}

void UringEngine::on_accept(int result) {
  AcceptOutcome outcome;
  if (result >= 0) {
    outcome.kind = AcceptOutcome::Kind::accepted;
    outcome.accepted = {static_cast<std::uintptr_t>(result), peer_name(result)};
    accept_finished(std::move(outcome));
    return;
  }
  const int error = -result;
  // ECANCELED: this accept was cancelled (a pause or the stop). The rest are
  // sorted as every accept loop of the repository sorts them
  // (cs::accept_error_kind): the client gave up, or a network error of the
  // new connection, means nothing is lost; out of descriptors or memory, back
  // off; anything else, accepting ends.
  switch (error == ECANCELED ? cs::Accepted::Kind::retry : cs::accept_error_kind(error)) {
    case cs::Accepted::Kind::retry:
      outcome.kind = AcceptOutcome::Kind::gone;
      break;
    case cs::Accepted::Kind::exhausted:
      outcome.kind = AcceptOutcome::Kind::exhausted;
      outcome.error = std::strerror(error);
      break;
    default:
      outcome.kind = AcceptOutcome::Kind::failed;
      outcome.error = std::string("accept failed: ") + std::strerror(error);
      break;
  }
  accept_finished(std::move(outcome));
}

void UringEngine::start_backoff_timer_locked() {
  auto* op = new Operation(Operation::Type::accept_backoff);
  op->timeout.tv_sec = cs::accept_backoff.count() / 1000;
  op->timeout.tv_nsec = (cs::accept_backoff.count() % 1000) * 1'000'000;
  submit(accept_ring(), op, [=](io_uring_sqe* sqe) { io_uring_prep_timeout(sqe, &op->timeout, 0, 0); });
}

void UringEngine::on_sweep(Operation* op) {
  sweep(Clock::now());

  std::lock_guard lock(sweep_mutex_);
  if (timer_stopping_) {
    sweep_timer_ = nullptr;
    delete op;
    return;
  }
  submit(accept_ring(), op, [=](io_uring_sqe* sqe) { io_uring_prep_timeout(sqe, &op->timeout, 0, 0); });
}

void UringEngine::establish_accepted(Accepted accepted) {
  cs::FileDescriptor fd(static_cast<int>(accepted.socket));
  cs::set_nodelay(fd.get());
  EngineCore::establish(std::make_shared<UringConnection>(*this, next_ring(), next_id(),
                                                          std::move(accepted.peer), std::move(fd)));
}

void UringEngine::post(std::function<void()> task) {
  if (!started_ || !rings_ready_) throw std::logic_error("cpf::Server::post before start()");
  run_on_ring(next_ring(), std::move(task));
}

void UringEngine::run_on_ring(Ring& ring, std::function<void()> task) {
  auto* op = new Operation(Operation::Type::post);
  op->task = std::move(task);
  submit(ring, op, [](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

void UringEngine::stop(std::chrono::milliseconds grace) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  const auto deadline = Clock::now() + grace;

  // 1. Stop accepting; the listener closes once no accept refers to it.
  stop_accepting();
  // 2. and 3. The server's goodbye, the grace period, then aborts.
  close_connections(deadline);

  // 4. Stop the sweep, wait until no operation is in flight (posted tasks
  //    and back-off timers included), then end the I/O threads.
  {
    std::lock_guard lock(sweep_mutex_);
    timer_stopping_ = true;
    if (sweep_timer_ != nullptr) {
      const auto target = reinterpret_cast<std::uint64_t>(sweep_timer_);
      submit_ignored(accept_ring(), [=](io_uring_sqe* sqe) { io_uring_prep_timeout_remove(sqe, target, 0); });
    }
  }
  wait_for_no_operations();
  rings_ready_ = false;
  for (auto& ring : rings_) submit_entry(*ring, quit_completion, [](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
  for (auto& ring : rings_) ring->thread.join();
  rings_.clear();  // closing a ring cancels what it still holds: the eventfd read
}

// --- the engine src/server.cpp uses ---------------------------------------------

namespace detail {
std::unique_ptr<EngineCore> make_engine(Server& owner) { return std::make_unique<UringEngine>(owner); }
}  // namespace detail

}  // namespace cpf
