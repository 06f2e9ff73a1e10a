// The chat room's registry and its three broadcast strategies; see
// chat_room.hpp for the contracts and docs/part2_chat.md for the pictures.
#include "chat_room.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cs/frame_codec.hpp"
#include "cs/log.hpp"

namespace chat {

using Clock = std::chrono::steady_clock;

std::string_view to_string(Broadcast strategy) {
  switch (strategy) {
    case Broadcast::global_lock: return "global-lock";
    case Broadcast::snapshot: return "snapshot";
    case Broadcast::queue: return "queue";
  }
  return "?";
}

std::optional<Broadcast> parse_broadcast(std::string_view name) {
  for (const Broadcast strategy : {Broadcast::global_lock, Broadcast::snapshot, Broadcast::queue}) {
    if (name == to_string(strategy)) return strategy;
  }
  return std::nullopt;
}

Frame make_frame(cs::ByteView payload) {
  auto frame = std::make_shared<cs::Bytes>();
  cs::append_frame(payload, *frame);
  return frame;
}

std::string ChatStats::summary() const {
  return "connections=" + std::to_string(connections.load()) +
         " messages_in=" + std::to_string(messages_in.load()) +
         " messages_delivered=" + std::to_string(messages_delivered.load()) +
         " clients_dropped=" + std::to_string(clients_dropped.load());
}

namespace {

// Called when a send found the socket's buffer full (the receiver is
// behind): waits for room, or for the stop. After the stop the stop pipe is
// always readable, so it leaves the poll set and the shutdown deadline
// (kept in `deadline`, unset until the stop is seen) bounds the wait
// instead. False, with errno ETIMEDOUT, once that deadline has passed.
bool wait_for_room(int fd, const cs::StopSignal& stop, std::chrono::milliseconds grace,
                   std::optional<Clock::time_point>& deadline) {
  if (!deadline && stop.stop_requested()) deadline = stop.stop_time() + grace;
  for (;;) {
    switch (cs::wait_for(fd, POLLOUT, deadline ? -1 : stop.wait_fd(), deadline)) {
      case cs::WaitResult::ready:
        return true;
      case cs::WaitResult::stop_requested:
        deadline = stop.stop_time() + grace;
        continue;
      case cs::WaitResult::timed_out:
        errno = ETIMEDOUT;
        return false;
    }
  }
}

}  // namespace

bool send_whole(int fd, cs::ByteView data, const cs::StopSignal& stop,
                std::chrono::milliseconds grace) {
  std::optional<Clock::time_point> deadline;
  while (!data.empty()) {
    const ssize_t n = cs::send_some(fd, data);
    if (n >= 0) {
      data = data.subspan(static_cast<std::size_t>(n));
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return false;
    } else if (!wait_for_room(fd, stop, grace, deadline)) {
      return false;
    }
  }
  return true;
}

bool send_frames(int fd, const std::vector<Frame>& frames, const cs::StopSignal& stop,
                 std::chrono::milliseconds grace) {
  constexpr std::size_t max_buffers = 64;  // per sendmsg; far below IOV_MAX
  std::optional<Clock::time_point> deadline;
  std::size_t next = 0;    // the first frame not completely sent
  std::size_t offset = 0;  // bytes of frames[next] already sent
  while (next < frames.size()) {
    iovec buffers[max_buffers];
    std::size_t count = 0;
    for (std::size_t i = next; i < frames.size() && count < max_buffers; ++i, ++count) {
      const std::size_t skip = i == next ? offset : 0;
      buffers[count].iov_base = const_cast<cs::Byte*>(frames[i]->data() + skip);
      buffers[count].iov_len = frames[i]->size() - skip;
    }
    msghdr message{};
    message.msg_iov = buffers;
    message.msg_iovlen = count;
    const ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      // Advance past what the kernel took: whole frames, then part of one.
      auto sent = static_cast<std::size_t>(n);
      while (next < frames.size() && sent >= frames[next]->size() - offset) {
        sent -= frames[next]->size() - offset;
        ++next;
        offset = 0;
      }
      offset += sent;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return false;
    } else if (!wait_for_room(fd, stop, grace, deadline)) {
      return false;
    }
  }
  return true;
}

void abort_connection(int fd) {
  const linger abortive{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  ::shutdown(fd, SHUT_RDWR);
}

// --- Outbox ------------------------------------------------------------------

Outbox::PushResult Outbox::push(Frame frame) {
  std::unique_lock lock(mutex_);
  if (state_ != State::open) return {Outcome::refused, frames_.size(), bytes_};
  if (frames_.size() + 1 > max_frames_ || bytes_ + frame->size() > max_bytes_) {
    const PushResult result{Outcome::overflow, frames_.size(), bytes_};
    frames_.clear();
    bytes_ = 0;
    state_ = State::aborted;
    lock.unlock();
    changed_.notify_all();
    return result;
  }
  // The writer waits only for an empty queue, so only the first frame into
  // one needs to wake it; and waking it after unlocking spares it from
  // waking only to block on the mutex we still hold. Each broadcast pushes
  // to every member, so this is the hot path of the whole server.
  const bool was_empty = frames_.empty();
  bytes_ += frame->size();
  frames_.push_back(std::move(frame));
  const PushResult result{Outcome::queued, frames_.size(), bytes_};
  lock.unlock();
  if (was_empty) changed_.notify_one();
  return result;
}

std::vector<Frame> Outbox::take_all() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !frames_.empty() || state_ != State::open; });
  if (state_ == State::aborted) return {};
  bytes_ = 0;
  return std::exchange(frames_, {});
}

void Outbox::close() {
  std::lock_guard lock(mutex_);
  if (state_ == State::open) state_ = State::closed;
  changed_.notify_all();
}

void Outbox::abort() {
  std::lock_guard lock(mutex_);
  state_ = State::aborted;
  frames_.clear();
  bytes_ = 0;
  changed_.notify_all();
}

bool Outbox::aborted() const {
  std::lock_guard lock(mutex_);
  return state_ == State::aborted;
}

namespace {

// --- global-lock ---------------------------------------------------------------
//
//   thread A: lock ─ send(B) ─ send(C) ─ send(D) ─ unlock
//   thread B:   lock (waits for A's whole broadcast) ──────── send(A) ─ ...
//
// The published design: one mutex guards the member list and is held while
// writing to every socket. Frames never interleave (one writer at a time, in
// the whole room) but everything is serialised behind the slowest socket: if
// D stops reading, A blocks in send(D) holding the mutex, and every other
// broadcast, join and leave waits for A.
class GlobalLockRoom final : public ChatRoom {
 public:
  GlobalLockRoom(const RoomOptions& options, const cs::StopSignal& stop, ChatStats& stats)
      : grace_(options.shutdown_grace), stop_(stop), stats_(stats) {}

  std::size_t join(const Member& member) override {
    std::lock_guard lock(mutex_);
    members_.push_back(&member);
    return members_.size();
  }

  void broadcast(const Member& from, const Frame& frame) override {
    std::lock_guard lock(mutex_);  // held across every send: the design's flaw
    for (const Member* member : members_) {
      if (member->id == from.id) continue;
      // A failed send means that member's connection is broken (its own
      // thread will see it and leave) or the shutdown deadline passed.
      if (send_whole(member->fd, *frame, stop_, grace_)) {
        stats_.messages_delivered.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  bool leave(const Member& member) override {
    std::lock_guard lock(mutex_);
    std::erase(members_, &member);
    return false;
  }

 private:
  const std::chrono::milliseconds grace_;
  const cs::StopSignal& stop_;
  ChatStats& stats_;
  std::mutex mutex_;
  std::vector<const Member*> members_;  // guarded by mutex_, in join order
};

// --- snapshot ------------------------------------------------------------------
//
//   thread A: lock ─ copy fds ─ unlock ─ send(B) ─ send(C) ───────
//   thread D: lock ─ copy fds ─ unlock ─ send(B) ─ ...
//                                          ^ A and D write to B's socket at
//                                            once: a partial write of one
//                                            lets the other's bytes in
//
// The published "optimisation": the mutex only guards the list, and each
// broadcast sends from its own copy of the raw descriptors. Implemented
// faithfully, flaws included (docs/part2_chat.md measures them):
//  1. Nothing serialises writers per socket. A large frame to a full socket
//     goes out in several partial send()s, and another thread's send() can
//     put its bytes in between: the receiver reads a corrupt frame, and
//     every frame after it is misaligned.
//  2. A copied descriptor is only a number. Its member can leave (its thread
//     closes it) and a new client can be accepted under the same number
//     before this broadcast reaches it: the frame, or the rest of a frame
//     that was half sent, goes to the wrong client (or fails with EBADF).
// It never touches freed memory, only descriptor numbers, so it is not
// undefined behaviour in C++; the damage is on the wire.
class SnapshotRoom final : public ChatRoom {
 public:
  SnapshotRoom(const RoomOptions& options, const cs::StopSignal& stop, ChatStats& stats)
      : grace_(options.shutdown_grace), stop_(stop), stats_(stats) {}

  std::size_t join(const Member& member) override {
    std::lock_guard lock(mutex_);
    fds_.push_back(member.fd);
    return fds_.size();
  }

  void broadcast(const Member& from, const Frame& frame) override {
    std::vector<int> snapshot;
    {
      std::lock_guard lock(mutex_);
      snapshot = fds_;
    }
    for (const int fd : snapshot) {
      // Our own descriptor cannot have been reused: our thread holds it open.
      if (fd == from.fd) continue;
      if (send_whole(fd, *frame, stop_, grace_)) {
        stats_.messages_delivered.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }

  bool leave(const Member& member) override {
    std::lock_guard lock(mutex_);
    std::erase(fds_, member.fd);
    return false;  // and the caller closes member.fd: flaw 2
  }

 private:
  const std::chrono::milliseconds grace_;
  const cs::StopSignal& stop_;
  ChatStats& stats_;
  std::mutex mutex_;
  std::vector<int> fds_;  // guarded by mutex_: the members' descriptors, nothing more
};

// --- queue ---------------------------------------------------------------------
//
//   thread A: lock ─ push(B) push(C) push(D) ─ unlock      (no I/O under the lock)
//   writer B: take all ─ sendmsg(B) ─ take all ─ ...       (the only writer of B)
//   writer D: pop ─ send(D) blocks ... D's queue grows past its bound:
//             A's push(D) fails, D is dropped (abort_connection), A goes on
//
// Each member costs two threads: its connection thread (reads and
// broadcasts) and its writer (the only thread that writes to its socket).
class QueueRoom final : public ChatRoom {
 public:
  QueueRoom(const RoomOptions& options, const cs::StopSignal& stop, ChatStats& stats)
      : options_(options), stop_(stop), stats_(stats) {}

  // Every member should have left; any still here (a caller that gave up
  // early) is cut off, so that no writer thread outlives the room.
  ~QueueRoom() override {
    for (auto& [id, seat] : seats_) {
      seat->outbox.abort();
      ::shutdown(seat->member.fd, SHUT_RDWR);
      seat->writer.join();
    }
  }

  std::size_t join(const Member& member) override {
    auto seat = std::make_unique<Seat>(member, options_.queue_frames, options_.queue_bytes);
    seat->writer = std::thread([this, raw = seat.get()] { write_loop(*raw); });
    std::lock_guard lock(mutex_);
    seats_.emplace(member.id, std::move(seat));
    return seats_.size();
  }

  void broadcast(const Member& from, const Frame& frame) override {
    std::lock_guard lock(mutex_);  // only queue appends happen under it
    for (auto& [id, seat] : seats_) {
      if (id == from.id) continue;
      const Outbox::PushResult result = seat->outbox.push(frame);
      if (result.outcome == Outbox::Outcome::overflow) drop(*seat, result);
    }
  }

  bool leave(const Member& member) override {
    std::unique_ptr<Seat> seat;
    bool dropped = false;
    {
      std::lock_guard lock(mutex_);
      auto node = seats_.extract(member.id);
      if (node.empty()) return false;
      seat = std::move(node.mapped());
      dropped = seat->dropped;
    }
    // Out of the registry, so no broadcast pushes to it any more: every
    // broadcast that started before has finished its pushes (they run
    // under the mutex we just held).
    if (stop_.stop_requested()) {
      seat->outbox.close();  // the writer sends what is queued, within the grace period
    } else {
      // The client left (or broke the protocol): nobody will read the rest.
      seat->outbox.abort();
      ::shutdown(member.fd, SHUT_RDWR);  // wakes a writer blocked on a full socket
    }
    seat->writer.join();
    return dropped;
  }

 private:
  // One member's outbox and the thread that drains it.
  struct Seat {
    Seat(const Member& m, std::size_t max_frames, std::size_t max_bytes)
        : member(m), outbox(max_frames, max_bytes) {}
    const Member& member;
    Outbox outbox;
    std::thread writer;    // started by join(), joined by leave()
    bool dropped = false;  // guarded by QueueRoom::mutex_
  };

  // Called under mutex_ by the broadcast whose push overflowed.
  void drop(Seat& seat, const Outbox::PushResult& result) {
    seat.dropped = true;
    stats_.clients_dropped.fetch_add(1, std::memory_order_relaxed);
    cs::log_warn("dropping ", seat.member.peer.to_string(), ": outbound queue full (",
                 result.frames_waiting, " frames, ", result.bytes_waiting,
                 " bytes waiting; limits --queue-frames ", options_.queue_frames,
                 " --queue-bytes ", options_.queue_bytes, "); it does not read fast enough");
    // Its connection thread sees EOF and leaves; its writer's send fails.
    abort_connection(seat.member.fd);
  }

  // The writer thread of one member: the only thread that writes to its
  // socket. It takes everything queued at once and sends it with gather
  // writes: under load the queue grows while a batch is being sent, so the
  // batches grow too, and the cost per frame (a wake-up, a system call)
  // falls just when it matters.
  void write_loop(Seat& seat) {
    const int fd = seat.member.fd;
    for (;;) {
      const std::vector<Frame> batch = seat.outbox.take_all();
      if (batch.empty()) break;
      if (!send_frames(fd, batch, stop_, options_.shutdown_grace)) {
        // If nobody aborted the outbox yet, the client is gone or did not
        // read its frames before the shutdown deadline: discard the rest and
        // make sure its connection thread wakes up too.
        if (!seat.outbox.aborted()) {
          seat.outbox.abort();
          abort_connection(fd);
        }
        return;
      }
      stats_.messages_delivered.fetch_add(batch.size(), std::memory_order_relaxed);
    }
    // Closed and drained (a shutdown): the client reads EOF after the last
    // frame. The connection thread closes the socket once we are joined.
    if (!seat.outbox.aborted()) ::shutdown(fd, SHUT_WR);
  }

  const RoomOptions options_;
  const cs::StopSignal& stop_;
  ChatStats& stats_;
  std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Seat>> seats_;  // guarded by mutex_
};

}  // namespace

std::unique_ptr<ChatRoom> make_room(const RoomOptions& options, const cs::StopSignal& stop,
                                    ChatStats& stats) {
  switch (options.strategy) {
    case Broadcast::global_lock: return std::make_unique<GlobalLockRoom>(options, stop, stats);
    case Broadcast::snapshot: return std::make_unique<SnapshotRoom>(options, stop, stats);
    case Broadcast::queue: return std::make_unique<QueueRoom>(options, stop, stats);
  }
  return nullptr;
}

}  // namespace chat
