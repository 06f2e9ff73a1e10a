// The parts of a session that both Asio servers share, whatever style their
// session is written in: the backpressure limit, the read buffer (ReadBuffer),
// the idle and request deadlines, and the completion condition that notes
// progress. What is not a session (the
// listener, the accept loop, shutdown, the thread pool) is in
// server_skeleton.hpp.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "asio_headers.hpp"
#include "cs/bytes.hpp"
#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/session.hpp"

namespace part5 {

// Replies queued for a client that does not read them: past this many bytes
// the session stops reading until the queue drains, so a client that only
// sends cannot make the server buffer without bound (backpressure).
inline constexpr std::size_t max_queued_reply_bytes = 1 << 20;

// A session's read buffer, whose size follows the traffic. A pending read
// owns its buffer until it completes, so each session has its own, and
// holds it while its client is silent: it starts at first_read_size (a
// session idle after small requests holds 1 KiB); a read that fills it
// doubles it for the next one, up to last_read_size (a large upload moves
// 64 KiB per recv, as epoll-server's reads do); a read of first_read_size
// or less brings it back down and frees the rest. Not thread-safe: one
// session, one read at a time.
inline constexpr std::size_t first_read_size = 1024;
inline constexpr std::size_t last_read_size = 64 * 1024;

class ReadBuffer {
 public:
  ReadBuffer() : bytes_(first_read_size) {}

  // Where the next read puts what arrives, sized by what the last one
  // brought. Call only when no read is in flight.
  asio::mutable_buffer next() {
    if (last_read_ == bytes_.size() && bytes_.size() < last_read_size) {
      bytes_.resize(std::min(2 * bytes_.size(), last_read_size));
    } else if (last_read_ <= first_read_size && bytes_.size() > first_read_size) {
      bytes_.resize(first_read_size);
      bytes_.shrink_to_fit();
    }
    return asio::buffer(bytes_);
  }

  // The read into next() brought `bytes`: here they are, valid until the
  // next call of next().
  cs::ByteView received(std::size_t bytes) {
    last_read_ = bytes;
    return cs::ByteView(bytes_.data(), bytes);
  }

  // The bytes held, for tests.
  std::size_t capacity() const { return bytes_.capacity(); }

 private:
  cs::Bytes bytes_;
  std::size_t last_read_ = 0;
};

// The two timeouts of one session, kept as times: --idle-timeout-ms (no byte
// received or sent for that long) and --request-timeout-ms (a request not
// complete that long after its first byte arrived).
//
// Reads and writes only store a time here; they never touch a timer, which
// would cost a timer operation per read. One timer per session sleeps until
// next_check(), and when it wakes asks expired(): a reason to close, or
// nothing, and it sleeps again until the new next_check(). This is the
// pattern of Asio's timeouts example, with a second deadline. A request
// deadline set while the timer sleeps is never missed: the timer never
// sleeps longer than the request limit, and a request that begins after it
// went to sleep is due no earlier than a full limit later. (asio-server-
// workers dates a request from when its chunk arrived, so a chunk that
// waited for a worker can be found overdue late by up to that wait.)
//
// The request deadline is a cs::RequestTimer, handed the session's
// cs::Session after each chunk it consumed.
//
// Not thread-safe: used on the session's strand only.
class SessionDeadlines {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SessionDeadlines(const cs::ServerOptions& options)
      : idle_limit_(options.idle_timeout), request_timer_(options.request_timeout) {}

  // Whether any timeout is set: without one, the session needs no timer.
  bool enabled() const { return idle_limit_.count() > 0 || request_limit().count() > 0; }

  // Bytes arrived or left at `now` (any number, even part of a message):
  // the idle clock restarts.
  void activity(Clock::time_point now) { last_activity_ = now; }
  // The same, now. Without a timeout nothing needs the time, so the clock
  // is not read: that would be a read per receive and per send.
  void activity() {
    if (enabled()) activity(Clock::now());
  }
  // The time of the last activity() (meaningful only when enabled()).
  Clock::time_point last_activity() const { return last_activity_; }

  // After `session` consumed the chunk that arrived at the last
  // activity(). Starts, keeps or ends the request's clock.
  void after_receive(const cs::Session& session) { after_receive(session, last_activity_); }
  // The same for a chunk that arrived at `arrived`, consumed later (on a
  // worker: the idle clock may have moved on with replies sent meanwhile).
  void after_receive(const cs::Session& session, Clock::time_point arrived) {
    request_timer_.after_receive(session, arrived);
  }

  // When the timer should wake next (time_point::max(): never).
  Clock::time_point next_check(Clock::time_point now) const {
    Clock::time_point next = Clock::time_point::max();
    if (idle_limit_.count() > 0) next = last_activity_ + idle_limit_;
    if (request_limit().count() > 0) {
      next = std::min(next, request_timer_.deadline().value_or(now + request_limit()));
    }
    return next;
  }

  // Why the session must close at `now` (the log line's words), or nullopt.
  std::optional<std::string> expired(Clock::time_point now) const {
    if (idle_limit_.count() > 0 && now >= last_activity_ + idle_limit_) {
      return "idle for " + std::to_string(idle_limit_.count()) + " ms";
    }
    if (request_timer_.expired(now)) {
      return "request not complete after " + std::to_string(request_limit().count()) + " ms";
    }
    return std::nullopt;
  }

 private:
  std::chrono::milliseconds request_limit() const { return request_timer_.limit(); }

  std::chrono::milliseconds idle_limit_;
  Clock::time_point last_activity_ = Clock::now();
  cs::RequestTimer request_timer_;
};

// The completion condition of a composed read or write (asio::async_read,
// asio::async_write) that calls `on_progress()` whenever bytes have moved.
// Asio calls the condition before the first read_some or write_some (with 0
// bytes so far) and after each one that did not finish the buffer, with
// the total so far; it answers as asio::transfer_all would. So a reply
// that leaves in pieces restarts the idle clock with each piece, not only
// when it is whole: the handler of the whole operation sees only the end.
// A piece that finishes the buffer reaches the handler instead, without a
// call here: a reply that leaves in one piece costs nothing extra.
template <typename OnProgress>
auto noting_progress(OnProgress on_progress) {
  return [on_progress](const boost::system::error_code& error, std::size_t so_far) mutable {
    if (so_far > 0) on_progress();
    return asio::transfer_all()(error, so_far);
  };
}

}  // namespace part5
