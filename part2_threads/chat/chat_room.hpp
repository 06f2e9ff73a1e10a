// The chat room's shared state: who is in the room, and the three ways
// (--broadcast) a message read on one client's thread reaches every other
// client. chat_server.cpp owns the threads and the sockets; this file owns
// the registry and the writing.
//
// Every strategy does the same job: client A's thread has read one frame
// and must put it on the wire of every other member, whole (frames never
// interleave) and never back to A. They differ in who holds which lock while
// writing to a socket, and that is the whole lesson (docs/part2_chat.md):
//
//   global-lock  the registry mutex is held across every send of the
//                broadcast. Correct frames; but one receiver that stops
//                reading blocks the sender holding the mutex, and with it
//                every other sender, joiner and leaver.
//   snapshot     copy the descriptor list under the mutex, send outside it.
//                Senders no longer wait for each other, but two of them can
//                write to one socket at once (their partial writes
//                interleave and corrupt frames), and a descriptor copied into
//                a snapshot can be closed and reused by a new client before
//                the send.
//   queue        each member has a bounded queue of frames and its own
//                writer thread; a broadcast only appends under the mutex.
//                One writer per socket, so frames stay whole; a member whose
//                queue overflows is dropped, so it cannot stall anyone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cs/bytes.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace chat {

enum class Broadcast { global_lock, snapshot, queue };

std::string_view to_string(Broadcast strategy);
// "global-lock", "snapshot" or "queue"; nullopt for anything else.
std::optional<Broadcast> parse_broadcast(std::string_view name);

// The defaults of --queue-frames and --queue-bytes: one member may have this
// much waiting before it is dropped. 8 MiB holds eight frames of the default
// --max-frame (1 MiB), or 32 of the 256 KiB frames chat-stress sends.
inline constexpr std::size_t default_queue_frames = 1024;
inline constexpr std::size_t default_queue_bytes = 8u << 20;

// A message as it goes on the wire: the 4-byte header and the payload in one
// buffer (so it leaves with one write), built once and shared, read-only, by
// every recipient's send or queue.
using Frame = std::shared_ptr<const cs::Bytes>;
Frame make_frame(cs::ByteView payload);

// Counters for the summary line. Thread-safe: relaxed atomics, read after
// every thread has been joined.
struct ChatStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> messages_in{0};         // frames received from clients
  std::atomic<std::uint64_t> messages_delivered{0};  // frames written whole to a recipient
  std::atomic<std::uint64_t> clients_dropped{0};     // queue strategy: overflowed members

  // "connections=3 messages_in=12 messages_delivered=24 clients_dropped=0"
  std::string summary() const;
};

// One connected client as the room sees it. Created by its connection
// thread, which owns the socket: `fd` stays open at least until leave()
// returns.
struct Member {
  std::uint64_t id = 0;
  int fd = -1;
  cs::Endpoint peer;
};

// Writes every byte of `data` to `fd`, waiting for room in the socket's send
// buffer, like cs::send_all, but a server shutdown bounds the wait: once
// `stop` is requested it gives up at stop_time() + grace. Returns false, with
// errno set (ETIMEDOUT for the deadline), when the data did not all go.
// Thread-safe in the C++ sense (it touches no shared memory); two threads
// calling it on one fd at once interleave their bytes on the wire.
bool send_whole(int fd, cs::ByteView data, const cs::StopSignal& stop,
                std::chrono::milliseconds grace);

// The same for several frames, in order, written with gather writes
// (sendmsg of up to 64 buffers), so a batch of small frames costs one system
// call rather than one each.
bool send_frames(int fd, const std::vector<Frame>& frames, const cs::StopSignal& stop,
                 std::chrono::milliseconds grace);

// Aborts a connection from any thread: the next recv() on it returns EOF and
// a send() fails, waking the threads blocked on it, and the eventual close()
// sends a reset (SO_LINGER 0) instead of waiting to deliver what is still
// buffered for a client that stopped reading. The caller must know `fd` is
// still open (not closed and reused).
void abort_connection(int fd);

// A member's bounded queue of frames waiting for its writer thread (the
// queue strategy). Thread-safe: any number of broadcasters push, one writer
// takes.
//
//   open --close()--> closed: pushes refused; the writer drains what is queued
//     |
//     +--abort() or a push over a bound--> aborted: queued frames discarded
class Outbox {
 public:
  Outbox(std::size_t max_frames, std::size_t max_bytes)
      : max_frames_(max_frames), max_bytes_(max_bytes) {}

  enum class Outcome { queued, overflow, refused };
  struct PushResult {
    Outcome outcome;
    std::size_t frames_waiting;  // at the time of the push, for the log line
    std::size_t bytes_waiting;
  };

  // Appends `frame` if the queue stays within both bounds (frames taken by
  // the writer no longer count, so a member holds at most one batch in its
  // writer plus the bounds here). Otherwise the
  // outbox aborts itself and returns overflow, exactly once: the caller is
  // the one who drops the member. After close() or abort(), returns refused.
  PushResult push(Frame frame);

  // Blocks until frames are queued, and takes them all, oldest first (the
  // writer sends them as one batch); returns none when there will be no
  // more: the outbox is closed and empty, or aborted.
  std::vector<Frame> take_all();

  // No more pushes; take_all() still returns what is queued, then nothing.
  void close();
  // No more pushes, and what is queued is discarded; take_all() returns nothing.
  void abort();

  bool aborted() const;

 private:
  enum class State { open, closed, aborted };

  const std::size_t max_frames_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a frame was queued, or the state left open
  std::vector<Frame> frames_;        // guarded by mutex_, oldest first
  std::size_t bytes_ = 0;            // guarded by mutex_: the sum of frames_' sizes
  State state_ = State::open;        // guarded by mutex_
};

struct RoomOptions {
  Broadcast strategy = Broadcast::queue;
  std::size_t queue_frames = default_queue_frames;
  std::size_t queue_bytes = default_queue_bytes;
  std::chrono::milliseconds shutdown_grace{2000};
};

// The registry of members and the broadcast. Every method is thread-safe;
// each member's connection thread calls join(), then broadcast() for every
// frame it reads, then leave(). The room must outlive those calls.
class ChatRoom {
 public:
  virtual ~ChatRoom() = default;

  // Adds `member` (which must stay alive until leave(member) returns); from
  // now on it receives the frames others broadcast. Returns the number of
  // members, this one included.
  virtual std::size_t join(const Member& member) = 0;

  // Delivers `frame` to every member but `from`. How long it blocks depends
  // on the strategy (see the top of this file).
  virtual void broadcast(const Member& from, const Frame& frame) = 0;

  // Removes `member`. When it returns, the room holds no reference to it, its
  // writer thread (queue) has been joined, and the caller may close its fd,
  // except that a snapshot taken before may still write to that number: the
  // snapshot strategy's second flaw. If a stop was requested, what is queued
  // for the member is sent first, within the shutdown grace period;
  // otherwise it is discarded. Returns true if the room had dropped the
  // member (its queue overflowed).
  virtual bool leave(const Member& member) = 0;
};

// The room for options.strategy. `stop` and `stats` must outlive it.
std::unique_ptr<ChatRoom> make_room(const RoomOptions& options, const cs::StopSignal& stop,
                                    ChatStats& stats);

}  // namespace chat
