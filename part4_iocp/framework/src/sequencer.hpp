// Per-connection ordering of notifications, shared by both backends.
//
// Completions of one connection may be harvested by different I/O threads
// at nearly the same moment: thread A takes read 1, thread B read 2, and B
// may reach the server's code first. The classic fix (JetByte's read and
// write sequence numbers) is a ticket taken when the event is recorded,
// under the connection's lock, so tickets follow the order in which the
// connection's state changed; delivery then follows ticket order.
//
//   record (under the connection lock)     deliver (no connection lock held)
//   ----------------------------------     ---------------------------------
//   t = sequencer.take_ticket()            if (sequencer.offer(t, event))
//                                            while (auto e = sequencer.next())
//                                              notify(*e);
//
// offer() stores the event; the thread that finds the next ticket ready
// and nobody delivering becomes the deliverer and drains every event that
// is ready, in order. So one connection's notifications never overlap and
// never reorder, while different connections' run in parallel. A
// notification that triggers another event (close() inside
// on_read_completed) only queues it: the running deliverer picks it up
// when the current notification returns.
//
// Thread-safety: every method is thread-safe (one internal mutex, never
// held while the caller's notification runs).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace cpf::detail {

template <typename Event>
class Sequencer {
 public:
  // The next ticket. Take it while holding the lock that orders the events.
  std::uint64_t take_ticket() {
    std::lock_guard lock(mutex_);
    return issued_++;
  }

  // Hands in the event for `ticket`, a ticket of take_ticket() offered
  // once. Returns true if the caller must now deliver: call next() until it
  // returns nullopt.
  bool offer(std::uint64_t ticket, Event event) {
    std::lock_guard lock(mutex_);
    assert(ticket >= next_to_deliver_ && ticket < issued_);
    const std::size_t slot = head_ + static_cast<std::size_t>(ticket - next_to_deliver_);
    if (slot >= waiting_.size()) waiting_.resize(slot + 1);
    waiting_[slot] = std::move(event);
    if (delivering_ || !waiting_[head_]) return false;
    delivering_ = true;
    return true;
  }

  // For the deliverer: the next event in ticket order, or nullopt when the
  // next one has not been offered yet (the caller then stops delivering;
  // whoever offers it takes over).
  std::optional<Event> next() {
    std::lock_guard lock(mutex_);
    if (head_ == waiting_.size() || !waiting_[head_]) {
      delivering_ = false;
      return std::nullopt;
    }
    std::optional<Event> event = std::move(waiting_[head_]);
    ++head_;
    ++next_to_deliver_;
    if (head_ == waiting_.size()) {
      // Drained: start again at the front. A burst (a server that queued
      // thousands of empty writes) does not leave its memory behind.
      if (waiting_.capacity() > kept_capacity) {
        std::vector<std::optional<Event>>().swap(waiting_);
      } else {
        waiting_.clear();
      }
      head_ = 0;
    } else if (head_ >= kept_capacity && head_ * 2 >= waiting_.size()) {
      // Never drained (each notification records the next event): drop
      // the delivered half, so the vector stays as long as what waits.
      waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return event;
  }

  // Events offered but not yet delivered (for tests and assertions).
  std::size_t pending() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(waiting_.begin() + static_cast<std::ptrdiff_t>(head_),
                                                  waiting_.end(), [](const auto& slot) { return slot.has_value(); }));
  }

 private:
  mutable std::mutex mutex_;
  std::uint64_t issued_ = 0;           // guarded by mutex_
  std::uint64_t next_to_deliver_ = 0;  // guarded by mutex_
  bool delivering_ = false;            // guarded by mutex_
  // From head_ on, the events of tickets next_to_deliver_,
  // next_to_deliver_ + 1, ...; an empty slot is a ticket taken but not yet
  // offered. Rarely more than two long, so a vector that starts again at
  // its front whenever it drains: after the first few events it allocates
  // nothing, where a map allocated a node per event.
  static constexpr std::size_t kept_capacity = 16;
  std::vector<std::optional<Event>> waiting_;  // guarded by mutex_
  std::size_t head_ = 0;                       // guarded by mutex_
};

}  // namespace cpf::detail
