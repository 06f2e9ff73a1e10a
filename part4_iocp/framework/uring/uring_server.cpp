// The Linux backend of cpf::Server: io_uring (through liburing) as the
// completion port.
//
// Threading: ONE ring shared by a pool of I/O threads, the shape of an IOCP
// server (one completion port, many threads in GetQueuedCompletionStatus).
// A ring's submission queue and completion queue are each single-consumer
// structures in user space, so each gets a mutex:
//
//   any thread ──submit_mutex_──> SQ ──> kernel ──> CQ ──complete_mutex_──> one I/O thread
//                                                                           (handles it with
//                                                                            no ring lock held)
//
// The I/O thread holding complete_mutex_ is the one waiting in the kernel
// (leader/followers): it takes one completion, releases the lock and handles
// it, so completions are handled in parallel while harvesting is serial.
// The alternative, one ring per thread, pins each connection to a thread and
// needs cross-ring messaging whenever another thread writes to it; with one
// shared ring any thread may issue any operation and any thread may handle
// any completion, exactly as on Windows, and the ordering code (Sequencer)
// is the same for both backends. The cost is the two locks; a server that
// outgrows them shards connections over several rings.
//
// Per connection, the kernel sees at most one recv and one send at a time.
// Several recvs or sends in flight on one TCP socket may be served in any
// order by the kernel, and a short send followed by the next send would
// interleave bytes on the wire; so reads and writes the server issues are
// queued here and handed to the kernel one after another. The server still
// issues as many as it likes ("several outstanding"), and ordering is by
// construction rather than by hope.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
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
#include "cs/acceptor.hpp"
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

// user_data of submissions whose completion needs no handling (cancels,
// timeout removals) and of the wake-ups that end the I/O threads. Real
// operations carry an Operation*, never this small.
constexpr std::uint64_t ignored_completion = 1;
constexpr std::uint64_t quit_completion = 2;
constexpr std::uint64_t wake_completion = 3;  // requests from other threads are waiting

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

// The backend's engine. Server::Impl (at the end of this file) is this class
// under the name server.hpp gives it.
class UringEngine {
 public:
  explicit UringEngine(Server& owner) : owner_(owner) {}

  void start();
  void stop(std::chrono::milliseconds grace);
  void pause_accepting();
  void resume_accepting();
  void post(std::function<void()> task);
  void run_on_io_thread(std::function<void()> task);  // post() without the checks
  Counters counters() const;
  std::uint16_t port() const { return port_; }
  std::string address() const { return address_; }

  // Submits `op` (owned by the ring until its completion is handled).
  // Thread-safe. `prepare` fills the SQE.
  using Prepare = std::function<void(io_uring_sqe*)>;
  void submit(Operation* op, Prepare prepare);
  // Submits an operation whose completion is ignored (cancels).
  void submit_ignored(Prepare prepare);

  // Called by a connection when its descriptor is closed, and after its
  // on_connection_closed was delivered.
  void connection_closed() { active_.fetch_sub(1); }
  void forget(Connection::Id id);

  Server& owner_;
  std::atomic<std::uint64_t> bytes_received_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  detail::OutputTotals output_totals_;

 private:
  void submit_entry(std::uint64_t user_data, Prepare prepare);
  void submit_locked_(std::uint64_t user_data, const Prepare& prepare);  // submit_mutex_ held
  void flush_marshalled_locked();  // marshal_mutex_ and submit_mutex_ held
  void submit_marshalled();
  void worker_loop();
  void handle(Operation* op, int result);
  void arm_accept_locked();  // accept_mutex_ held
  void cancel_accept_locked();
  void on_accept(int result);
  void on_accept_backoff();
  void on_sweep(Operation* op);
  void establish(cs::FileDescriptor fd);
  void wait_for_no_connections(std::optional<Clock::time_point> deadline);
  bool at_capacity() const;

  io_uring ring_{};
  bool ring_ready_ = false;
  std::mutex submit_mutex_;    // guards the submission queue of ring_
  // Requests from threads other than the I/O threads (see submit_entry).
  // marshal_mutex_ is taken before submit_mutex_.
  std::mutex marshal_mutex_;
  std::vector<std::pair<std::uint64_t, Prepare>> marshalled_;  // guarded by marshal_mutex_
  bool wake_pending_ = false;                                   // guarded by marshal_mutex_
  std::mutex complete_mutex_;  // guards the completion queue of ring_
  std::vector<std::thread> workers_;

  cs::FileDescriptor listener_;
  std::uint16_t port_ = 0;
  std::string address_;
  bool started_ = false;  // owner thread only
  bool stopped_ = false;  // owner thread only

  // Accepting. accept_mutex_ is taken before submit_mutex_, never after.
  mutable std::mutex accept_mutex_;
  std::condition_variable accept_changed_;
  bool accept_in_flight_ = false;  // guarded by accept_mutex_
  bool paused_ = false;            // guarded by accept_mutex_
  bool stopping_ = false;          // guarded by accept_mutex_
  bool backoff_pending_ = false;   // guarded by accept_mutex_
  bool accept_broken_ = false;     // guarded by accept_mutex_
  std::vector<cs::FileDescriptor> parked_;  // accepted while paused; guarded by accept_mutex_
  Operation* sweep_timer_ = nullptr;        // armed sweep; guarded by accept_mutex_
  bool timer_stopping_ = false;             // guarded by accept_mutex_
  // While descriptors are used up, every retry fails the same way.
  cs::RepeatLimiter exhausted_warnings_;

  // Every live connection, so stop() can find them and counters() count
  // them. An entry goes when its on_connection_closed has been delivered.
  mutable std::mutex registry_mutex_;
  std::condition_variable registry_changed_;
  std::unordered_map<Connection::Id, std::shared_ptr<UringConnection>> connections_;  // guarded
  std::atomic<std::size_t> active_{0};  // connections whose descriptor is open
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> accept_backoffs_{0};
  std::atomic<Connection::Id> next_id_{1};

  // Operations submitted and not yet handled; stop() waits for zero.
  std::atomic<std::size_t> ops_in_flight_{0};
  std::mutex ops_mutex_;
  std::condition_variable ops_drained_;
};

// --- UringConnection ---------------------------------------------------------

class UringConnection final : public Connection {
 public:
  UringConnection(UringEngine& server, Id id, std::string peer, cs::FileDescriptor fd)
      : Connection(id, std::move(peer)),
        server_(server),
        fd_(std::move(fd)),
        output_(server.output_totals_, server.owner_.options().output_limit),
        timers_(Clock::now()) {}

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
  void on_recv_complete(Operation& op, int result);
  void on_send_complete(Operation& op, int result);
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
  std::shared_ptr<UringConnection> self() {
    return std::static_pointer_cast<UringConnection>(shared_from_this());
  }

  UringEngine& server_;
  mutable std::mutex mutex_;  // guards everything below (taken before submit_mutex_)
  // The descriptor is closed only when in_flight_ is zero: a recv or send
  // still in the kernel names the descriptor by number, and a number closed
  // early could be reused by the next accept, so a late operation would hit
  // another client's connection. Each submission increments in_flight_, each
  // handled completion decrements it, and advance_close_locked() closes the
  // descriptor only at zero.
  cs::FileDescriptor fd_;
  unsigned in_flight_ = 0;
  std::deque<BufferPtr> read_queue_;  // reads issued, not yet in the kernel
  bool recv_in_flight_ = false;
  detail::OutputQueue output_;  // front is the one in the kernel, if send_in_flight_
  bool send_in_flight_ = false;
  bool eof_ = false;                   // the client's EOF was seen (reported once)
  bool close_requested_ = false;       // close() was called (closing notification recorded)
  bool deciding_close_ = false;        // on_connection_closing is running
  bool close_again_ = false;           // close() called again before the decision
  bool taken_over_ = false;            // the server took over closing
  bool framework_closing_ = false;     // graceful close under way
  bool aborting_ = false;              // abortive close under way
  bool cancel_submitted_ = false;
  bool send_shutdown_requested_ = false;
  bool closed_ = false;  // descriptor closed; the closed event is recorded
  detail::ConnectionTimers timers_;
  detail::Sequencer<Event> sequencer_;
};

// --- UringConnection: the server's calls -------------------------------------

void UringConnection::start() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    record_locked(out, Event::Kind::established);
  }
  deliver(out);
}

bool UringConnection::read() {
  {
    std::lock_guard lock(mutex_);
    if (!readable_locked()) return false;
  }
  return read(server_.owner_.allocator().allocate());
}

bool UringConnection::read(BufferPtr buffer) {
  if (!buffer || buffer->space().empty()) {
    throw std::invalid_argument("cpf::Connection::read needs a buffer with free space");
  }
  std::lock_guard lock(mutex_);
  if (!readable_locked()) return false;
  read_queue_.push_back(std::move(buffer));
  pump_reads_locked();
  return true;
}

bool UringConnection::write(BufferPtr buffer) {
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

bool UringConnection::write(ByteView bytes) {
  {
    // Checked first as well as below: a closed connection may outlive its
    // server (and allocator) in a ConnectionPtr the server's code kept.
    std::lock_guard lock(mutex_);
    if (!writable_locked()) return false;
  }
  BufferAllocator& allocator = server_.owner_.allocator();
  // Fill the buffers before taking the lock, so a large write does not hold
  // the connection while it copies.
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

bool UringConnection::shutdown_send() {
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

void UringConnection::close() {
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

void UringConnection::abort() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    abort_locked(out);
  }
  deliver(out);
}

// --- UringConnection: completions --------------------------------------------

void UringConnection::on_recv_complete(Operation& op, int result) {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    recv_in_flight_ = false;
    BufferPtr buffer = std::move(op.buffer);
    if (aborting_ || framework_closing_) {
      // Closing: whatever this read got is not delivered (see close()).
    } else if (result > 0) {
      buffer->commit(static_cast<std::size_t>(result));
      server_.bytes_received_.fetch_add(static_cast<std::uint64_t>(result), std::memory_order_relaxed);
      timers_.touch(Clock::now());
      record_locked(out, Event::Kind::read, std::move(buffer));
      pump_reads_locked();
    } else if (result == 0) {
      // EOF. Reads still queued would only see EOF again: drop them, so the
      // server hears of the half-close exactly once.
      eof_ = true;
      read_queue_.clear();
      record_locked(out, Event::Kind::client_closed);
    } else if (result == -EINTR || result == -EAGAIN) {
      read_queue_.push_front(std::move(buffer));
      pump_reads_locked();
    } else if (result != -ECANCELED) {
      fail_locked(out, -result);
    }
    advance_close_locked(out);
  }
  deliver(out);
}

void UringConnection::on_send_complete(Operation& op, int result) {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    send_in_flight_ = false;
    op.buffer.reset();
    if (aborting_ || output_.empty()) {
      // Aborting: the queue was dropped and nothing more is reported.
    } else if (result > 0) {
      server_.bytes_sent_.fetch_add(static_cast<std::uint64_t>(result), std::memory_order_relaxed);
      timers_.touch(Clock::now());
      if (BufferPtr done = output_.sent(static_cast<std::size_t>(result))) {
        record_locked(out, Event::Kind::write, std::move(done));
      }
      // Otherwise a partial send: pump_writes_locked() sends the rest
      // before anything queued behind it.
      pump_writes_locked(out);
      pump_reads_locked();  // the queue shrank: a read held back by the output limit may go
    } else if (result == -EINTR || result == -EAGAIN) {
      pump_writes_locked(out);
    } else if (result == 0) {
      fail_locked(out, EPIPE);  // the kernel took nothing of a non-empty send
    } else if (result != -ECANCELED) {
      fail_locked(out, -result);
    }
    advance_close_locked(out);
  }
  deliver(out);
}

void UringConnection::check_timers(Clock::time_point now, std::chrono::milliseconds idle_limit) {
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

// --- UringConnection: internals ----------------------------------------------

void UringConnection::record_locked(Recorded& out, Event::Kind kind, BufferPtr buffer,
                                    std::error_code error) {
  out.emplace_back(sequencer_.take_ticket(), Event{kind, std::move(buffer), error});
}

void UringConnection::deliver(Recorded& events) {
  bool deliverer = false;
  for (auto& [ticket, event] : events) deliverer |= sequencer_.offer(ticket, std::move(event));
  events.clear();
  if (!deliverer) return;
  if (on_io_thread) {
    drain();
  } else {
    // Notifications run on the I/O threads only (server.hpp promises it),
    // so a call from another thread (a write from a timer thread, a close
    // from on_server_stopping) hands the delivering to one.
    server_.run_on_io_thread([connection = self()] { connection->drain(); });
  }
}

void UringConnection::drain() {
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

void UringConnection::pump_reads_locked() {
  if (recv_in_flight_ || read_queue_.empty() || !fd_ || aborting_ || framework_closing_) return;
  if (!output_.reads_allowed()) return;  // over the output limit: on_send_complete resumes
  auto* op = new Operation(Operation::Type::recv);
  op->connection = self();
  op->buffer = std::move(read_queue_.front());
  read_queue_.pop_front();
  const std::span<Byte> room = op->buffer->space();
  recv_in_flight_ = true;
  ++in_flight_;
  const int fd = fd_.get();
  server_.submit(op, [=](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, fd, room.data(), room.size(), 0); });
}

void UringConnection::pump_writes_locked(Recorded& out) {
  while (!send_in_flight_ && !output_.empty() && fd_ && !aborting_) {
    detail::OutputQueue::Item& item = output_.front();
    if (item.shutdown_marker) {
      // Every write before the marker has completed: now the FIN can go.
      ::shutdown(fd_.get(), SHUT_WR);
      output_.pop_front();
      continue;
    }
    if (item.buffer->empty()) {
      record_locked(out, Event::Kind::write, output_.pop_front());
      continue;
    }
    auto* op = new Operation(Operation::Type::send);
    op->connection = self();
    op->buffer = item.buffer;
    const Byte* from = item.buffer->data() + item.sent;
    const std::size_t length = item.buffer->size() - item.sent;
    send_in_flight_ = true;
    ++in_flight_;
    const int fd = fd_.get();
    server_.submit(op, [=](io_uring_sqe* sqe) { io_uring_prep_send(sqe, fd, from, length, MSG_NOSIGNAL); });
  }
}

void UringConnection::fail_locked(Recorded& out, int error) {
  if (is_reset(error)) {
    record_locked(out, Event::Kind::reset);
  } else {
    record_locked(out, Event::Kind::error, {}, std::error_code(error, std::system_category()));
  }
  abort_locked(out);
}

void UringConnection::abort_locked(Recorded& out) {
  if (closed_ || aborting_) return;
  aborting_ = true;
  close_requested_ = true;
  read_queue_.clear();
  output_.clear();  // an in-flight send keeps its own reference to its buffer
  if ((recv_in_flight_ || send_in_flight_) && !cancel_submitted_) {
    cancel_submitted_ = true;
    const int fd = fd_.get();
    server_.submit_ignored(
        [=](io_uring_sqe* sqe) { io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL); });
  }
  advance_close_locked(out);
}

void UringConnection::begin_framework_close() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || aborting_ || framework_closing_) return;
    framework_closing_ = true;
    read_queue_.clear();
    // A recv waiting in the kernel must end before the descriptor can be
    // closed; shutting down the receiving side completes it (with 0, which
    // is dropped: the server asked to close) without touching the sends.
    if (recv_in_flight_) ::shutdown(fd_.get(), SHUT_RD);
    advance_close_locked(out);
  }
  deliver(out);
}

void UringConnection::advance_close_locked(Recorded& out) {
  if (closed_) return;
  const bool writes_done = output_.empty() && !send_in_flight_;
  if (!(aborting_ || (framework_closing_ && writes_done)) || in_flight_ > 0) return;
  if (aborting_) {
    // Linger on with a zero timeout: close() sends RST and discards unsent
    // data, the meaning of an abortive close.
    const linger hard{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }
  fd_.reset();
  closed_ = true;
  server_.connection_closed();  // counted now: on_connection_closed sees itself gone
  record_locked(out, Event::Kind::closed);
}

// --- UringEngine ------------------------------------------------------------

void UringEngine::submit_locked_(std::uint64_t user_data, const Prepare& prepare) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {  // the SQ is full: push it to the kernel, then retry
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  prepare(sqe);
  io_uring_sqe_set_data64(sqe, user_data);
  for (;;) {
    const int submitted = io_uring_submit(&ring_);
    if (submitted >= 0) return;
    // EBUSY: the completion queue overflowed and the kernel wants it drained
    // first; the I/O threads are doing that. EINTR/EAGAIN: try again.
    if (submitted == -EBUSY || submitted == -EAGAIN || submitted == -EINTR) {
      std::this_thread::yield();
      continue;
    }
    // Anything else means the ring itself is unusable; no connection could
    // make progress, so stop loudly rather than hang.
    cs::log_error("io_uring_submit failed: ", std::strerror(-submitted));
    std::abort();
  }
}

void UringEngine::submit(Operation* op, Prepare prepare) {
  ops_in_flight_.fetch_add(1, std::memory_order_relaxed);
  op->published.store(true, std::memory_order_release);
  submit_entry(reinterpret_cast<std::uint64_t>(op), std::move(prepare));
}

void UringEngine::submit_ignored(Prepare prepare) { submit_entry(ignored_completion, std::move(prepare)); }

// Only I/O threads put operations into the ring. io_uring finishes a
// request that had to wait (a recv for data, an accept for a client) with
// "task work" run by the thread that submitted it: that thread is
// interrupted, like a signal, to run it, and a blocking call there fails
// with EINTR. JetByte's framework marshalled requests to its I/O threads
// for the same kind of reason (Windows cancels a thread's I/O when it
// exits). So another thread's request is queued here, and a no-op (which
// completes inside the submitting call, needing no task work) wakes an I/O
// thread to submit it. An I/O thread submitting its own request first
// submits everything queued before it, so requests reach the kernel in the
// order they were made: a cancel never overtakes the recv it cancels.
void UringEngine::submit_entry(std::uint64_t user_data, Prepare prepare) {
  if (!on_io_thread) {
    bool wake = false;
    {
      std::lock_guard lock(marshal_mutex_);
      marshalled_.emplace_back(user_data, std::move(prepare));
      wake = !wake_pending_;
      wake_pending_ = true;
    }
    if (wake) {
      std::lock_guard lock(submit_mutex_);
      submit_locked_(wake_completion, [](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
    }
    return;
  }
  std::lock_guard marshal_lock(marshal_mutex_);
  std::lock_guard submit_lock(submit_mutex_);
  flush_marshalled_locked();
  submit_locked_(user_data, prepare);
}

void UringEngine::flush_marshalled_locked() {
  for (auto& [user_data, prepare] : marshalled_) submit_locked_(user_data, prepare);
  marshalled_.clear();
  wake_pending_ = false;
}

void UringEngine::submit_marshalled() {
  std::lock_guard marshal_lock(marshal_mutex_);
  std::lock_guard submit_lock(submit_mutex_);
  flush_marshalled_locked();
}

void UringEngine::start() {
  if (started_) throw std::logic_error("cpf::Server::start called twice");
  const ServerOptions& options = owner_.options();
  listener_ = cs::listen_tcp(options.host, options.port, options.backlog);
  const cs::Endpoint endpoint = cs::local_endpoint(listener_.get());
  port_ = endpoint.port;
  address_ = endpoint.to_string();

  // A completion queue larger than the submission queue: every connection
  // keeps a recv in flight, so completions can far outnumber one batch of
  // submissions. (The kernel also buffers overflow, IORING_FEAT_NODROP.)
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE;
  params.cq_entries = std::max(4096u, options.queue_depth * 8);
  const int result = io_uring_queue_init_params(std::max(8u, options.queue_depth), &ring_, &params);
  if (result < 0) {
    throw cs::SetupError(std::string("cannot create an io_uring: ") + std::strerror(-result) +
                         " (io_uring needs Linux 5.19 or later; containers may block it with seccomp,"
                         " and /proc/sys/kernel/io_uring_disabled may turn it off)");
  }
  ring_ready_ = true;
  started_ = true;

  const unsigned threads = std::max(1u, options.threads);
  for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });

  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();
  // The sweep for idle timeouts and deadlines (src/timers.hpp): always
  // armed, since any connection may be given a deadline.
  const auto period = detail::sweep_period(options);
  sweep_timer_ = new Operation(Operation::Type::sweep);
  sweep_timer_->timeout.tv_sec = period.count() / 1000;
  sweep_timer_->timeout.tv_nsec = (period.count() % 1000) * 1'000'000;
  Operation* timer = sweep_timer_;
  submit(timer, [=](io_uring_sqe* sqe) { io_uring_prep_timeout(sqe, &timer->timeout, 0, 0); });
}

void UringEngine::worker_loop() {
  on_io_thread = true;
  for (;;) {
    std::uint64_t user_data = 0;
    int result = 0;
    {
      std::lock_guard lock(complete_mutex_);
      io_uring_cqe* cqe = nullptr;
      int waited = 0;
      do {
        waited = io_uring_wait_cqe(&ring_, &cqe);
      } while (waited == -EINTR || waited == -EAGAIN);
      if (waited < 0) {
        cs::log_error("io_uring_wait_cqe failed: ", std::strerror(-waited));
        std::abort();
      }
      user_data = io_uring_cqe_get_data64(cqe);
      result = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
    }
    if (user_data == quit_completion) return;
    if (user_data == ignored_completion) continue;
    if (user_data == wake_completion) {
      submit_marshalled();
      continue;
    }
    auto* op = reinterpret_cast<Operation*>(user_data);
    (void)op->published.load(std::memory_order_acquire);
    handle(op, result);
    if (ops_in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      { std::lock_guard lock(ops_mutex_); }
      ops_drained_.notify_all();
    }
  }
}

void UringEngine::handle(Operation* op, int result) {
  switch (op->type) {
    case Operation::Type::accept:
      delete op;
      on_accept(result);
      return;
    case Operation::Type::recv:
      op->connection->on_recv_complete(*op, result);
      break;
    case Operation::Type::send:
      op->connection->on_send_complete(*op, result);
      break;
    case Operation::Type::accept_backoff:
      delete op;
      on_accept_backoff();
      return;
    case Operation::Type::sweep:
      on_sweep(op);  // re-arms or deletes it
      return;
    case Operation::Type::post:
      try {
        op->task();
      } catch (const std::exception& error) {
        cs::log_error("a task posted to the server threw: ", error.what());
      } catch (...) {
        cs::log_error("a task posted to the server threw");
      }
      break;
  }
  delete op;
}

bool UringEngine::at_capacity() const {
  const std::size_t limit = owner_.options().max_connections;
  return limit != 0 && active_.load() >= limit;
}

void UringEngine::arm_accept_locked() {
  if (accept_in_flight_ || paused_ || stopping_ || backoff_pending_ || accept_broken_ || at_capacity()) {
    return;
  }
  accept_in_flight_ = true;
  auto* op = new Operation(Operation::Type::accept);
  const int fd = listener_.get();
  submit(op, [=](io_uring_sqe* sqe) { io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC); });
}

void UringEngine::cancel_accept_locked() {
  if (!accept_in_flight_) return;
  const int fd = listener_.get();
  submit_ignored([=](io_uring_sqe* sqe) { io_uring_prep_cancel_fd(sqe, fd, 0); });
}

void UringEngine::on_accept(int result) {
  std::optional<cs::FileDescriptor> fresh;
  {
    std::lock_guard lock(accept_mutex_);
    if (result >= 0) {
      cs::FileDescriptor fd(result);
      if (stopping_) {
        // Accepted as the stop began: closed unserved, like a client still
        // in the backlog when the listener closes.
      } else if (paused_) {
        parked_.push_back(std::move(fd));  // served on resume_accepting()
      } else {
        fresh = std::move(fd);
      }
    } else {
      const int error = -result;
      switch (error) {
        case ECANCELED:  // pause or stop
        case EINTR:
        case EAGAIN:
        case ECONNABORTED:  // the client gave up before we took it
        case EPROTO:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
        case EPERM:
          break;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM: {
          // Out of descriptors or memory: accepting again at once would
          // fail again at once. Back off; clients wait in the backlog.
          cs::log_warn_limited(exhausted_warnings_, "accept: ", std::strerror(error), "; retrying in ",
                               cs::accept_backoff.count(), " ms");
          backoff_pending_ = true;
          accept_backoffs_.fetch_add(1);
          auto* op = new Operation(Operation::Type::accept_backoff);
          op->timeout.tv_sec = cs::accept_backoff.count() / 1000;
          op->timeout.tv_nsec = (cs::accept_backoff.count() % 1000) * 1'000'000;
          submit(op, [=](io_uring_sqe* sqe) { io_uring_prep_timeout(sqe, &op->timeout, 0, 0); });
          break;
        }
        default:
          cs::log_error("accept failed: ", std::strerror(error), "; no longer accepting");
          accept_broken_ = true;
          break;
      }
    }
    if (!fresh) {
      accept_in_flight_ = false;
      accept_changed_.notify_all();
    }
  }
  if (fresh) {
    establish(std::move(*fresh));
    // The accept counts as in flight until its connection is registered:
    // stop() and pause_accepting() wait for it, so a connection accepted
    // as they begin is in the registry they then close or count.
    std::lock_guard lock(accept_mutex_);
    accept_in_flight_ = false;
    accept_changed_.notify_all();
    arm_accept_locked();
    return;
  }
  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();
}

void UringEngine::on_accept_backoff() {
  std::lock_guard lock(accept_mutex_);
  backoff_pending_ = false;
  arm_accept_locked();
}

void UringEngine::on_sweep(Operation* op) {
  std::vector<std::shared_ptr<UringConnection>> connections;
  {
    std::lock_guard lock(registry_mutex_);
    connections.reserve(connections_.size());
    for (auto& entry : connections_) connections.push_back(entry.second);
  }
  const auto now = Clock::now();
  for (auto& connection : connections) connection->check_timers(now, owner_.options().idle_timeout);

  std::lock_guard lock(accept_mutex_);
  if (timer_stopping_) {
    sweep_timer_ = nullptr;
    delete op;
    return;
  }
  submit(op, [=](io_uring_sqe* sqe) { io_uring_prep_timeout(sqe, &op->timeout, 0, 0); });
}

void UringEngine::establish(cs::FileDescriptor fd) {
  cs::set_nodelay(fd.get());
  std::string peer = peer_name(fd.get());
  const Connection::Id id = next_id_.fetch_add(1);
  auto connection = std::make_shared<UringConnection>(*this, id, std::move(peer), std::move(fd));
  {
    std::lock_guard lock(registry_mutex_);
    connections_.emplace(id, connection);
  }
  active_.fetch_add(1);
  accepted_.fetch_add(1);
  connection->start();
}

void UringEngine::forget(Connection::Id id) {
  {
    std::lock_guard lock(registry_mutex_);
    connections_.erase(id);
  }
  registry_changed_.notify_all();
  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();  // a connection limit may have held accepting back
}

void UringEngine::pause_accepting() {
  std::unique_lock lock(accept_mutex_);
  paused_ = true;
  cancel_accept_locked();
  // On an I/O thread the accept's completion may need this very thread;
  // there, an accept that completes anyway is parked until resume.
  if (!on_io_thread) accept_changed_.wait(lock, [this] { return !accept_in_flight_; });
}

void UringEngine::resume_accepting() {
  std::vector<cs::FileDescriptor> parked;
  {
    std::lock_guard lock(accept_mutex_);
    if (!paused_) return;
    paused_ = false;
    if (stopping_) return;
    parked.swap(parked_);
  }
  for (auto& fd : parked) establish(std::move(fd));
  std::lock_guard lock(accept_mutex_);
  arm_accept_locked();
}

void UringEngine::post(std::function<void()> task) {
  if (!started_ || !ring_ready_) throw std::logic_error("cpf::Server::post before start()");
  run_on_io_thread(std::move(task));
}

void UringEngine::run_on_io_thread(std::function<void()> task) {
  auto* op = new Operation(Operation::Type::post);
  op->task = std::move(task);
  submit(op, [](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
}

void UringEngine::wait_for_no_connections(std::optional<Clock::time_point> deadline) {
  std::unique_lock lock(registry_mutex_);
  const auto none = [this] { return connections_.empty(); };
  if (deadline) {
    registry_changed_.wait_until(lock, *deadline, none);
  } else {
    registry_changed_.wait(lock, none);
  }
}

void UringEngine::stop(std::chrono::milliseconds grace) {
  if (!started_ || stopped_) return;
  stopped_ = true;
  const auto deadline = Clock::now() + grace;

  // 1. Stop accepting; the listener closes once no accept refers to it.
  {
    std::unique_lock lock(accept_mutex_);
    stopping_ = true;
    cancel_accept_locked();
    accept_changed_.wait(lock, [this] { return !accept_in_flight_; });
    parked_.clear();
    listener_.reset();
  }
  // 2. Let the server say goodbye, and the connections finish on their own.
  Notifier::server_stopping(owner_);
  wait_for_no_connections(deadline);

  // 3. Abort the rest; each ends with on_connection_closed.
  std::vector<std::shared_ptr<UringConnection>> remaining;
  {
    std::lock_guard lock(registry_mutex_);
    for (auto& entry : connections_) remaining.push_back(entry.second);
  }
  for (auto& connection : remaining) connection->abort();
  remaining.clear();
  wait_for_no_connections(std::nullopt);

  // 4. Stop the sweep, wait until no operation is in flight (posted tasks
  //    and back-off timers included), then end the I/O threads.
  {
    std::lock_guard lock(accept_mutex_);
    timer_stopping_ = true;
    if (sweep_timer_ != nullptr) {
      const auto target = reinterpret_cast<std::uint64_t>(sweep_timer_);
      submit_ignored([=](io_uring_sqe* sqe) { io_uring_prep_timeout_remove(sqe, target, 0); });
    }
  }
  {
    std::unique_lock lock(ops_mutex_);
    ops_drained_.wait(lock, [this] { return ops_in_flight_.load(std::memory_order_acquire) == 0; });
  }
  {
    std::lock_guard lock(submit_mutex_);
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      submit_locked_(quit_completion, [](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); });
    }
  }
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  io_uring_queue_exit(&ring_);
  ring_ready_ = false;
}

Counters UringEngine::counters() const {
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
  counters.accepting = accept_in_flight_ && !paused_ && !stopping_;
  return counters;
}

// --- Server: the public face --------------------------------------------------

class Server::Impl : public UringEngine {
 public:
  using UringEngine::UringEngine;
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
