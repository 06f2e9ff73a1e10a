// The two clocks of a connection that the framework's periodic sweep
// checks, shared by both backends:
//
// - the idle clock: restarted by every completed read or write (a byte
//   received or sent), so a client that trickles bytes is never idle;
//   ServerOptions::idle_timeout after the last one, on_idle_timeout;
// - the deadline the server sets (Connection::set_deadline): once it has
//   passed, on_deadline.
//
// One sweep over all connections, a few times per timeout, instead of a
// timer per connection: a connection costs no timer operation at all, and a
// timeout is noticed at most one sweep period late.
//
// Not thread-safe: the backend calls every method with the connection's
// mutex held.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

#include "cpf/server.hpp"
#include "event.hpp"

namespace cpf::detail {

using Clock = std::chrono::steady_clock;

// The time an I/O thread's loop last read the clock. A loop reads it when
// its wait returns and again between the completions of a batch (io_uring:
// while any submission is prepared, where its rule of submitting early in
// a long batch reads it anyway; IOCP: after each completion, where its
// rule of handing the rest of a long batch back to the port does), and
// every read or write completed in between is stamped with that reading,
// as epoll-server stamps the events of one epoll_wait: the idle clock
// counts in milliseconds and needs no clock read per operation. A stamp is
// late by the handlers that ran since the last reading, microseconds as a
// rule; a handler that computes for as long as the idle timeout can make a
// timeout come early. Off an I/O thread, or before its loop's first
// reading, now() reads the clock.
class LoopClock {
 public:
  static Clock::time_point now() { return reading_ != unset ? reading_ : Clock::now(); }
  static void set(Clock::time_point reading) { reading_ = reading; }

 private:
  static constexpr Clock::time_point unset = Clock::time_point::min();
  static inline thread_local Clock::time_point reading_ = unset;
};

// How often the sweep runs: a quarter of the shorter of the idle timeout
// and the shortest deadline the server announced, kept between 5 ms and
// 1 s. Without either it still runs once a second, so a deadline set
// without ServerOptions::shortest_deadline is noticed, just late.
inline std::chrono::milliseconds sweep_period(const ServerOptions& options) {
  using std::chrono::milliseconds;
  milliseconds shortest{0};
  for (const milliseconds timeout : {options.idle_timeout, options.shortest_deadline}) {
    if (timeout.count() > 0 && (shortest.count() == 0 || timeout < shortest)) shortest = timeout;
  }
  if (shortest.count() == 0) return milliseconds{1000};
  return std::clamp(shortest / 4, milliseconds{5}, milliseconds{1000});
}

class ConnectionTimers {
 public:
  explicit ConnectionTimers(Clock::time_point now) : last_activity_(now) {}

  // A read or write completed at `now`: the idle clock starts again.
  void touch(Clock::time_point now) {
    // Completions of one connection may be stamped by different I/O
    // threads (IOCP), whose readings can be microseconds apart: the clock
    // never goes back.
    last_activity_ = std::max(last_activity_, now);
    idle_reported_ = false;
  }

  // nullopt clears the deadline. Setting the one already set changes
  // nothing (a deadline already reported is not reported again).
  void set_deadline(std::optional<Clock::time_point> when) {
    if (when == deadline_) return;
    deadline_ = when;
    deadline_reported_ = false;
  }

  // What the sweep at `now` must report, if anything, and marks it
  // reported: each deadline once, the idle timeout once per idle period.
  // A passed deadline goes first (both would usually close).
  std::optional<Event::Kind> due(Clock::time_point now, std::chrono::milliseconds idle_limit) {
    if (deadline_passed(now) && !deadline_reported_) {
      deadline_reported_ = true;
      return Event::Kind::deadline;
    }
    if (idle_limit.count() > 0 && !idle_reported_ && now - last_activity_ >= idle_limit) {
      idle_reported_ = true;
      return Event::Kind::idle;
    }
    return std::nullopt;
  }

  // Checked again just before on_deadline is delivered: a notification
  // delivered after the sweep recorded the event (a read that completed
  // the request, say) may have moved or cleared the deadline meanwhile.
  bool deadline_passed(Clock::time_point now) const { return deadline_ && now >= *deadline_; }

 private:
  Clock::time_point last_activity_;
  bool idle_reported_ = false;
  std::optional<Clock::time_point> deadline_;
  bool deadline_reported_ = false;
};

}  // namespace cpf::detail
