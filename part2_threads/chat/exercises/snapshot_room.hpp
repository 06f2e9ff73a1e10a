// Exercise part2-2: make the snapshot broadcast correct.
//
// chat-server --broadcast snapshot copies the members' descriptors under the
// room's mutex and writes to them outside it, so that senders do not wait
// for each other. This class is that strategy with the two system calls it
// makes (send, close) behind an interface, so the check can split writes,
// hold a writer in the middle of a frame, and hand out descriptor numbers
// the way a kernel does. As shipped it has the server's two flaws
// (docs/part2_chat.md):
//  1. Two broadcasts can write to one member at once; a frame written in
//     several partial writes gets the other's bytes in between.
//  2. leave() closes the member's descriptor while a broadcast that copied
//     it may still be writing to it; the number is reused by the next member
//     to join, who receives the rest of someone else's frame.
// Fix both, and keep the point of the design: no writing under the room's
// member-list mutex, so broadcasts to different members go on in parallel.
//
// Edit this file and snapshot_room.cpp; check your work with
//   ./run exercise part2-2
// The check is snapshot_room_check.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "cs/bytes.hpp"

namespace exercises {

// What the room writes through: in a server, send() and close() on sockets;
// in the check, a fake that records every byte.
class Transport {
 public:
  virtual ~Transport() = default;

  // Writes a prefix of `data` (at least one byte, perhaps all of it) to
  // descriptor `fd` and returns its length, or returns 0 when `fd` is broken
  // (the connection failed, or the descriptor is not open). May block while
  // the peer does not read. Thread-safe, but like a real socket: the writes
  // of two threads to one descriptor interleave.
  virtual std::size_t write_some(int fd, cs::ByteView data) = 0;

  // Closes `fd`. From then on the number may belong to a new connection.
  virtual void close(int fd) = 0;
};

using MemberId = std::uint64_t;

// The contract to implement:
//
// - join(fd) adds a member whose connection is the open descriptor `fd` and
//   returns a new id. The room owns `fd` from then on: it closes it with
//   transport.close() exactly once, after the member left (or when the room
//   is destroyed).
// - broadcast(from, payload) writes one frame (cs::append_frame: the 4-byte
//   big-endian length, then the payload) to every member but `from`, in the
//   order they joined. Every frame arrives whole: the bytes of two frames
//   never interleave on one member's descriptor, however write_some splits
//   them and however many threads broadcast at once. A write_some that
//   returns 0 ends that member's frame; the broadcast goes on with the rest.
//   A member that joins during a broadcast may or may not get its frame, but
//   only whole frames.
// - leave(id) removes the member and returns without waiting for a write
//   that is in progress to it (such a write may block for a long time on a
//   peer that does not read). Broadcasts that start after it returns do not
//   write to that member. Its descriptor is closed as soon as no write to it
//   is in progress, and at the latest when the last broadcast that was
//   writing to it returns. A descriptor is never written after it was
//   closed, so a number reused by a new member never gets an old frame.
// - No write_some is called while holding the mutex that guards the member
//   list: a member that does not read delays only the broadcasts that reach
//   it, and only at it.
// - Every method is thread-safe. The room must outlive the calls.
class SnapshotRoom {
 public:
  explicit SnapshotRoom(Transport& transport);
  ~SnapshotRoom();  // closes the descriptors of the members still in the room
  SnapshotRoom(const SnapshotRoom&) = delete;
  SnapshotRoom& operator=(const SnapshotRoom&) = delete;

  MemberId join(int fd);
  void broadcast(MemberId from, cs::ByteView payload);
  void leave(MemberId id);
  std::size_t members() const;

 private:
  // Writes all of `frame` to `fd`; false if the descriptor broke first.
  bool write_frame(int fd, cs::ByteView frame);

  Transport& transport_;
  mutable std::mutex mutex_;
  // EXERCISE(part2-2): a raw descriptor number is all a snapshot copies, so
  // nothing stops two writers on one member, or the number being closed and
  // reused under a snapshot. Give each member an object that snapshots can
  // share (and that closes the descriptor when the last one lets go) and a
  // lock that a writer holds for a whole frame.
  std::vector<std::pair<MemberId, int>> members_;  // guarded by mutex_, in join order
  MemberId next_id_ = 1;                           // guarded by mutex_
};

}  // namespace exercises
