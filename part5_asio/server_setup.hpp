// The parts of a session that both Asio servers share, whatever style their
// session is written in: the backpressure limit, the shift protocol's read
// buffer, the framed reply, the idle and request deadlines, and the
// completion condition that notes progress. What is not a session (the
// listener, the accept loop, shutdown, the thread pool) is in
// server_skeleton.hpp.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "asio_headers.hpp"
#include "cs/bytes.hpp"
#include "cs/cpu_work.hpp"
#include "cs/frame_codec.hpp"
#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/session.hpp"

namespace part5 {

// Replies queued for a client that does not read them: past this many bytes
// the session stops reading until the queue drains, so a client that only
// sends cannot make the server buffer without bound (backpressure).
inline constexpr std::size_t max_queued_reply_bytes = 1 << 20;

// The shift sessions' read buffer: one per I/O thread, never one per
// session. A session waits for readability (async_wait), then reads what is
// there into this buffer and hands it to its cs::Session within the same
// handler, so nothing of it outlives the handler and another session on this
// thread can use it next. An idle client therefore costs no read buffer: with
// a 64 KiB buffer per session, 1,000 idle clients would pin 64 MiB.
inline asio::mutable_buffer io_thread_read_buffer() {
  constexpr std::size_t size = 64 * 1024;
  thread_local std::vector<unsigned char> buffer(size);
  return asio::buffer(buffer);
}

// The framed reply to `payload`: header and payload in one buffer (one
// reply, one write), each byte plus one. Sized once and filled by one
// transform rather than a push_back per byte: under ThreadSanitizer that
// took a 12 MiB frame from about 9 s to 2 s (from its last byte in to its
// first byte out), time in which the session moves no byte.
//
// First it spends `work` of CPU time (--work-us, once per frame), as
// cs::make_session's framed session does: these servers read frames
// themselves, without a cs::Session, so the work is spent here, on the
// session's strand, holding a thread of the pool as a real computation
// would.
inline cs::Bytes frame_reply(const cs::Bytes& payload, std::chrono::microseconds work) {
  cs::spend_cpu(work);
  cs::Bytes reply;
  reply.reserve(cs::frame_header_length + payload.size());
  cs::append_frame_header(static_cast<std::uint32_t>(payload.size()), reply);
  reply.resize(cs::frame_header_length + payload.size());
  std::transform(payload.begin(), payload.end(), reply.begin() + cs::frame_header_length,
                 [](cs::Byte b) { return static_cast<cs::Byte>(b + 1); });
  return reply;
}

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
// went to sleep is due no earlier than a full limit later.
//
// Both paths keep the request deadline in one cs::RequestTimer: the shift
// path hands it its cs::Session after each chunk; the framed path reads
// headers and bodies itself, without a cs::Session, and tells it through
// frame_byte_arrived() and frame_complete().
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

  // Shift: after `session` consumed the chunk that arrived at the last
  // activity(). Starts, keeps or ends the request's clock.
  void after_receive(const cs::Session& session) { after_receive(session, last_activity_); }
  // The same for a chunk that arrived at `arrived`, consumed later (on a
  // worker: the idle clock may have moved on with replies sent meanwhile).
  void after_receive(const cs::Session& session, Clock::time_point arrived) {
    request_timer_.after_receive(session, arrived);
  }

  // Framed: a byte of a frame arrived at the last activity(); the first
  // byte of a frame starts its clock.
  void frame_byte_arrived() { request_timer_.after_receive(true, frames_, last_activity_); }
  // Framed: the whole frame is in; no request is under way.
  void frame_complete() { request_timer_.after_receive(false, ++frames_, last_activity_); }

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
  std::uint64_t frames_ = 0;  // framed: frames complete, for request_timer_
};

// The completion condition of a composed read or write (asio::async_read,
// asio::async_write) that calls `on_progress()` whenever bytes have moved.
// Asio calls the condition before the first read_some or write_some (with 0
// bytes so far) and after each one that did not finish the buffer, with
// the total so far; it answers as asio::transfer_all would. So a header,
// body or reply that arrives or leaves in pieces restarts the idle clock
// with each piece, not only when it is whole: the handler of the whole
// operation sees only the end. A piece that finishes the buffer reaches
// the handler instead, without a call here: a message that moves in one
// piece costs nothing extra.
template <typename OnProgress>
auto noting_progress(OnProgress on_progress) {
  return [on_progress](const boost::system::error_code& error, std::size_t so_far) mutable {
    if (so_far > 0) on_progress();
    return asio::transfer_all()(error, so_far);
  };
}

}  // namespace part5
