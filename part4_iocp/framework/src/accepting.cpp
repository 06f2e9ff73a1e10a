// The accept step of both ports, written once: see EngineCore in
// connection_core.hpp for its states. The port issues and cancels the
// accepts and turns a socket into a connection; everything else, when to
// accept, what a failure means, pausing, backing off and stopping, is here.
#include <algorithm>
#include <utility>

#include "connection_core.hpp"
#include "cs/acceptor.hpp"  // accept_backoff
#include "cs/log.hpp"

namespace cpf::detail {

void EngineCore::start_accepting() {
  std::lock_guard lock(accept_mutex_);
  arm_accepts_locked();
}

void EngineCore::arm_accepts_locked() {
  if (paused_ || stopping_ || backoff_pending_ || accept_broken_) return;
  // Never more accepts in the kernel than the connection limit admits: an
  // accept that completed would have to close its client unserved, while a
  // client not yet accepted waits in the listen backlog until one leaves.
  const std::size_t target = std::min(accepts_wanted(), admissible());
  while (accepts_in_flight_ < target) {
    if (auto problem = issue_accept_locked()) {
      if (problem->kind == AcceptOutcome::Kind::exhausted) {
        back_off_locked(problem->error);
      } else {
        cs::log_error(problem->error, "; no longer accepting");
        accept_broken_ = true;
      }
      return;
    }
    // Counted after the issue: its completion needs accept_mutex_, held here.
    ++accepts_in_flight_;
  }
}

void EngineCore::back_off_locked(const std::string& error) {
  // Trying again at once would fail again at once, and a loop that does is
  // a busy loop that floods the log. Clients wait in the backlog meanwhile.
  cs::log_warn_limited(exhausted_warnings_, "accept: ", error, "; retrying in ",
                       cs::accept_backoff.count(), " ms");
  backoff_pending_ = true;
  accept_backoffs_.fetch_add(1);
  start_backoff_timer_locked();
}

void EngineCore::backoff_finished() {
  std::lock_guard lock(accept_mutex_);
  backoff_pending_ = false;
  arm_accepts_locked();
}

void EngineCore::accept_finished(AcceptOutcome outcome) {
  bool fresh = false;
  {
    std::lock_guard lock(accept_mutex_);
    switch (outcome.kind) {
      case AcceptOutcome::Kind::accepted:
        if (stopping_) {
          // Accepted as the stop began: closed unserved, like a client
          // still in the backlog when the listener closes.
          discard_accepted(outcome.accepted);
        } else if (paused_) {
          parked_.push_back(std::move(outcome.accepted));  // served on resume_accepting()
        } else {
          fresh = true;
        }
        break;
      case AcceptOutcome::Kind::gone:
        break;
      case AcceptOutcome::Kind::exhausted:
        back_off_locked(outcome.error);
        break;
      case AcceptOutcome::Kind::failed:
        cs::log_error(outcome.error, "; no longer accepting");
        accept_broken_ = true;
        break;
    }
    if (!fresh) {
      --accepts_in_flight_;
      accept_changed_.notify_all();
      arm_accepts_locked();
      return;
    }
  }
  establish_accepted(std::move(outcome.accepted));
  // The accept counts as in flight until its connection is registered:
  // stop() and pause_accepting() wait for it, so a connection accepted as
  // they begin is in the registry they then close or count.
  std::lock_guard lock(accept_mutex_);
  --accepts_in_flight_;
  accept_changed_.notify_all();
  arm_accepts_locked();
}

void EngineCore::pause_accepting() {
  std::unique_lock lock(accept_mutex_);
  paused_ = true;
  if (accepts_in_flight_ > 0) cancel_accepts_locked();
  // On an I/O thread an accept's completion may need this very thread;
  // there, an accept that completes anyway is parked until resume.
  if (!in_io_thread()) accept_changed_.wait(lock, [this] { return accepts_in_flight_ == 0; });
}

void EngineCore::resume_accepting() {
  std::vector<Accepted> parked;
  {
    std::lock_guard lock(accept_mutex_);
    if (!paused_) return;
    paused_ = false;
    if (stopping_) return;
    parked.swap(parked_);
  }
  for (auto& accepted : parked) establish_accepted(std::move(accepted));
  std::lock_guard lock(accept_mutex_);
  arm_accepts_locked();
}

void EngineCore::stop_accepting() {
  std::unique_lock lock(accept_mutex_);
  stopping_ = true;
  if (accepts_in_flight_ > 0) cancel_accepts_locked();
  accept_changed_.wait(lock, [this] { return accepts_in_flight_ == 0; });
  for (const auto& accepted : parked_) discard_accepted(accepted);
  parked_.clear();
  // No accept refers to the listener any more.
  close_listener_locked();
}

}  // namespace cpf::detail
