// The request deadline behind --request-timeout-ms: how long a request may
// take to arrive once its first byte has.
//
// The idle timeout closes a connection on which nothing moves. It cannot
// stop a client that sends one byte a second: every byte restarts the idle
// clock, so such a client holds its connection (and, in a thread-per-client
// server, a whole thread) for as long as it likes: the "slowloris" attack.
// A request deadline bounds it: once a request has begun, it must be
// complete within the limit, however steadily its bytes trickle in.
//
//   no request --(a byte arrives)--> request under way --(request done)--> no request
//                                        |  deadline = first byte + limit
//                                        v
//                               deadline passes: close
//
// A server calls after_receive() after each Session::on_receive() and
// closes the connection once now() reaches deadline(). The timer reads the
// session's request_pending() and requests(), so it works for any protocol.
// A slow reader is not this timer's business: a full send buffer pauses
// reading (no new request can begin), and the idle timeout covers a client
// that stops reading altogether.
//
// Not thread-safe: one connection, one caller at a time, like the Session.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "cs/session.hpp"

namespace cs {

class RequestTimer {
 public:
  using Clock = std::chrono::steady_clock;

  // `limit` zero: no deadline ever (the --request-timeout-ms default).
  explicit RequestTimer(std::chrono::milliseconds limit) : limit_(limit) {}

  // Call after the session consumed a chunk received at `now`.
  void after_receive(const Session& session, Clock::time_point now) {
    after_receive(session.request_pending(), session.requests(), now);
  }

  // The same for a protocol parser that is not a Session (the chat room's
  // frame decoder): whether part of a request is buffered, and how many
  // requests it has completed so far.
  void after_receive(bool request_pending, std::uint64_t requests_done, Clock::time_point now) {
    if (limit_.count() <= 0) return;
    if (!request_pending) {
      deadline_.reset();
    } else if (!deadline_ || requests_done != requests_seen_) {
      // A request began in this chunk (the first one, or one after a
      // request this chunk completed): its clock starts now.
      deadline_ = now + limit_;
    }
    requests_seen_ = requests_done;
  }

  // When the request under way must be complete; nullopt when none is.
  std::optional<Clock::time_point> deadline() const { return deadline_; }

  bool expired(Clock::time_point now) const { return deadline_ && now >= *deadline_; }

  std::chrono::milliseconds limit() const { return limit_; }

 private:
  std::chrono::milliseconds limit_;
  std::optional<Clock::time_point> deadline_;
  std::uint64_t requests_seen_ = 0;
};

}  // namespace cs
