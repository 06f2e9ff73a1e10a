// The connection state machine of both ports: see connection_core.hpp.
#include "connection_core.hpp"

#include <exception>
#include <limits>
#include <stdexcept>

#include "cs/log.hpp"
#include "notifier.hpp"

namespace cpf::detail {

// --- EngineCore ---------------------------------------------------------------

void EngineCore::establish(const std::shared_ptr<ConnectionCore>& connection) {
  {
    std::lock_guard lock(registry_mutex_);
    connections_.emplace(connection->id(), connection);
  }
  active_.fetch_add(1);
  accepted_.fetch_add(1);
  connection->start();
}

void EngineCore::forget(Connection::Id id) {
  {
    std::lock_guard lock(registry_mutex_);
    connections_.erase(id);
  }
  registry_changed_.notify_all();
  // A connection limit may have held accepting back.
  std::lock_guard lock(accept_mutex_);
  arm_accepts_locked();
}

void EngineCore::sweep(Clock::time_point now) {
  std::vector<std::shared_ptr<ConnectionCore>> connections;
  {
    std::lock_guard lock(registry_mutex_);
    connections.reserve(connections_.size());
    for (auto& entry : connections_) connections.push_back(entry.second);
  }
  for (auto& connection : connections) connection->check_timers(now, owner_.options().idle_timeout);
}

void EngineCore::close_connections(Clock::time_point deadline) {
  // Let the server say goodbye, and the connections finish on their own.
  Notifier::server_stopping(owner_);
  wait_for_no_connections(deadline);
  // Abort the rest; each ends with on_connection_closed.
  std::vector<std::shared_ptr<ConnectionCore>> remaining;
  {
    std::lock_guard lock(registry_mutex_);
    for (auto& entry : connections_) remaining.push_back(entry.second);
  }
  for (auto& connection : remaining) connection->abort();
  remaining.clear();
  wait_for_no_connections(std::nullopt);
}

void EngineCore::wait_for_no_connections(std::optional<Clock::time_point> deadline) {
  std::unique_lock lock(registry_mutex_);
  const auto none = [this] { return connections_.empty(); };
  if (deadline) {
    registry_changed_.wait_until(lock, *deadline, none);
  } else {
    registry_changed_.wait(lock, none);
  }
}

std::size_t EngineCore::admissible() const {
  const std::size_t limit = owner_.options().max_connections;
  if (limit == 0) return std::numeric_limits<std::size_t>::max();
  const std::size_t active = active_.load();
  return active >= limit ? 0 : limit - active;
}

void EngineCore::operation_handled() {
  if (ops_in_flight_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    { std::lock_guard lock(ops_mutex_); }
    ops_drained_.notify_all();
  }
}

void EngineCore::wait_for_no_operations() {
  std::unique_lock lock(ops_mutex_);
  ops_drained_.wait(lock, [this] { return ops_in_flight_.load(std::memory_order_acquire) == 0; });
}

void EngineCore::run_posted(const std::function<void()>& task) noexcept {
  try {
    task();
  } catch (const std::exception& failure) {
    cs::log_error("a task posted to the server threw: ", failure.what());
  } catch (...) {
    cs::log_error("a task posted to the server threw");
  }
}

Counters EngineCore::counters() const {
  Counters counters;
  {
    std::lock_guard lock(accept_mutex_);
    counters.accepting = accepts_in_flight_ > 0 && !paused_ && !stopping_;
  }
  counters.active_connections = active_.load();
  counters.connections_accepted = accepted_.load();
  counters.buffers_in_use = owner_.allocator().in_use();
  counters.buffers_pooled = owner_.allocator().pooled();
  counters.bytes_received = bytes_received_.load();
  counters.bytes_sent = bytes_sent_.load();
  counters.accept_backoffs = accept_backoffs_.load();
  counters.bytes_queued = output_totals_.queued.load(std::memory_order_relaxed);
  counters.read_pauses = output_totals_.pauses.load(std::memory_order_relaxed);
  return counters;
}

// --- ConnectionCore -------------------------------------------------------------

ConnectionCore::ConnectionCore(EngineCore& engine, Id id, std::string peer)
    : Connection(id, std::move(peer)),
      engine_(engine),
      output_(engine.output_totals_, engine.owner_.options().output_limit),
      timers_(Clock::now()) {}

// --- the server's calls -------------------------------------------------------

void ConnectionCore::start() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    record_locked(out, Event::Kind::established);
  }
  deliver(out);
}

// A read with no buffer of the server's: the port picks the memory (on
// io_uring only when bytes arrive, so an idle connection holds none).
bool ConnectionCore::read() {
  std::lock_guard lock(mutex_);
  if (!readable_locked()) return false;
  read_queue_.emplace_back();
  pump_reads_locked();
  return true;
}

bool ConnectionCore::read(BufferPtr buffer) {
  if (!buffer || buffer->space().empty()) {
    throw std::invalid_argument("cpf::Connection::read needs a buffer with free space");
  }
  std::lock_guard lock(mutex_);
  if (!readable_locked()) return false;
  read_queue_.push_back(std::move(buffer));
  pump_reads_locked();
  return true;
}

bool ConnectionCore::write(BufferPtr buffer) {
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

bool ConnectionCore::write(ByteView bytes) {
  {
    // Checked first as well as below: a closed connection may outlive its
    // server (and allocator) in a ConnectionPtr the server's code kept.
    std::lock_guard lock(mutex_);
    if (!writable_locked()) return false;
  }
  BufferAllocator& allocator = engine_.owner_.allocator();
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

bool ConnectionCore::shutdown_send() {
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

void ConnectionCore::close() {
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

void ConnectionCore::abort() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    abort_locked(out);
  }
  deliver(out);
}

bool ConnectionCore::closing() const {
  std::lock_guard lock(mutex_);
  return close_requested_ || aborting_ || closed_;
}

void ConnectionCore::set_deadline(std::optional<Clock::time_point> when) {
  std::lock_guard lock(mutex_);
  timers_.set_deadline(when);
}

// --- completions --------------------------------------------------------------

void ConnectionCore::recv_finished(BufferPtr buffer, Outcome outcome) {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    recv_in_flight_ = false;
    if (aborting_ || framework_closing_) {
      // Closing: whatever this read got is not delivered (see close()).
    } else if (outcome.kind == Outcome::Kind::done && outcome.bytes > 0) {
      engine_.bytes_received_.fetch_add(outcome.bytes, std::memory_order_relaxed);
      timers_.touch(LoopClock::now());
      record_locked(out, Event::Kind::read, std::move(buffer));
      pump_reads_locked();
    } else if (outcome.kind == Outcome::Kind::done) {
      // EOF. Reads still queued would only see EOF again: drop them, so the
      // server hears of the half-close exactly once.
      eof_ = true;
      read_queue_.clear();
      record_locked(out, Event::Kind::client_closed);
    } else if (outcome.kind == Outcome::Kind::retry) {
      read_queue_.insert(read_queue_.begin(), std::move(buffer));
      pump_reads_locked();
    } else if (outcome.kind != Outcome::Kind::cancelled) {
      fail_locked(out, outcome);
    }
    advance_close_locked(out);
  }
  deliver(out);
}

void ConnectionCore::send_finished(Outcome outcome) {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    --in_flight_;
    send_in_flight_ = false;
    if (aborting_ || output_.empty()) {
      // Aborting: the queue was dropped and nothing more is reported.
    } else if (outcome.kind == Outcome::Kind::done && outcome.bytes > 0) {
      engine_.bytes_sent_.fetch_add(outcome.bytes, std::memory_order_relaxed);
      timers_.touch(LoopClock::now());
      if (BufferPtr done = output_.sent(outcome.bytes)) {
        record_locked(out, Event::Kind::write, std::move(done));
      }
      // Otherwise a partial send: pump_writes_locked() sends the rest
      // before anything queued behind it.
      pump_writes_locked(out);
      pump_reads_locked();  // the queue shrank: a read held back by the output limit may go
    } else if (outcome.kind == Outcome::Kind::retry) {
      pump_writes_locked(out);
    } else if (outcome.kind == Outcome::Kind::done) {
      // The kernel took nothing of a non-empty send: the peer is gone.
      fail_locked(out, Outcome{Outcome::Kind::reset, 0, {}});
    } else if (outcome.kind != Outcome::Kind::cancelled) {
      fail_locked(out, outcome);
    }
    advance_close_locked(out);
  }
  deliver(out);
}

void ConnectionCore::check_timers(Clock::time_point now, std::chrono::milliseconds idle_limit) {
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

// --- internals ------------------------------------------------------------------

void ConnectionCore::record_locked(Recorded& out, Event::Kind kind, BufferPtr buffer,
                                   std::error_code error) {
  out.emplace_back(sequencer_.take_ticket(), Event{kind, std::move(buffer), error});
}

void ConnectionCore::deliver(Recorded& events) {
  bool deliverer = false;
  events.drain([&](std::uint64_t ticket, Event&& event) { deliverer |= sequencer_.offer(ticket, std::move(event)); });
  if (!deliverer) return;
  if (on_io_thread()) {
    drain();
  } else {
    // Notifications run on the I/O threads only (server.hpp promises it),
    // so a call from another thread (a write from a timer thread, a close
    // from on_server_stopping, the aborts of stop()) hands the delivering
    // to one.
    run_on_io_thread([connection = shared_from_this(), this] { drain(); });
  }
}

void ConnectionCore::drain() {
  const auto keep_alive = shared_from_this();  // the registry may drop it on `closed`
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
    const Notifier::Then then = Notifier::deliver(engine_.owner_, *this, *event);
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
    if (kind == Event::Kind::closed) engine_.forget(id());
  }
}

void ConnectionCore::pump_reads_locked() {
  if (recv_in_flight_ || read_queue_.empty() || !socket_open_locked() || aborting_ ||
      framework_closing_) {
    return;
  }
  if (!output_.reads_allowed()) return;  // over the output limit: send_finished resumes
  BufferPtr buffer = std::move(read_queue_.front());
  read_queue_.erase(read_queue_.begin());
  recv_in_flight_ = true;
  ++in_flight_;
  start_recv_locked(std::move(buffer));
}

void ConnectionCore::pump_writes_locked(Recorded& out) {
  while (!send_in_flight_ && !output_.empty() && socket_open_locked() && !aborting_) {
    OutputQueue::Item& item = output_.front();
    if (item.shutdown_marker) {
      // Every write before the marker has completed: now the FIN can go.
      shutdown_send_locked();
      output_.pop_front();
      continue;
    }
    if (item.buffer->empty()) {
      record_locked(out, Event::Kind::write, output_.pop_front());
      continue;
    }
    send_in_flight_ = true;
    ++in_flight_;
    start_send_locked(item.buffer, item.buffer->data() + item.sent, item.buffer->size() - item.sent);
  }
}

void ConnectionCore::fail_locked(Recorded& out, const Outcome& outcome) {
  if (outcome.kind == Outcome::Kind::reset) {
    record_locked(out, Event::Kind::reset);
  } else {
    record_locked(out, Event::Kind::error, {}, outcome.error);
  }
  abort_locked(out);
}

void ConnectionCore::abort_locked(Recorded& out) {
  if (closed_ || aborting_) return;
  aborting_ = true;
  close_requested_ = true;
  read_queue_.clear();
  output_.clear();  // an in-flight send keeps its own reference to its buffer
  if ((recv_in_flight_ || send_in_flight_) && !cancel_issued_) {
    cancel_issued_ = true;
    // Every operation on the socket completes (cancelled, or with what it
    // had done); the socket is closed after the last one.
    cancel_all_locked();
  }
  advance_close_locked(out);
}

void ConnectionCore::begin_framework_close() {
  Recorded out;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || aborting_ || framework_closing_) return;
    framework_closing_ = true;
    read_queue_.clear();
    // A receive waiting in the kernel must end before the socket can be
    // closed (it may wait forever); the sends already issued go on.
    if (recv_in_flight_) cancel_recv_locked();
    advance_close_locked(out);
  }
  deliver(out);
}

void ConnectionCore::advance_close_locked(Recorded& out) {
  if (closed_) return;
  const bool writes_done = output_.empty() && !send_in_flight_;
  if (!(aborting_ || (framework_closing_ && writes_done)) || in_flight_ > 0) return;
  close_socket_locked(aborting_);
  closed_ = true;
  engine_.socket_closed();  // counted now: on_connection_closed sees itself gone
  record_locked(out, Event::Kind::closed);
}

}  // namespace cpf::detail
