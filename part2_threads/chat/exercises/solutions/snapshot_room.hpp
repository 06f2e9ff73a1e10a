// Reference solution of exercise part2-2: the snapshot broadcast made
// correct. The contract is the starting point's (../snapshot_room.hpp); the
// members are what changed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "cs/bytes.hpp"

namespace exercises {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::size_t write_some(int fd, cs::ByteView data) = 0;
  virtual void close(int fd) = 0;
};

using MemberId = std::uint64_t;

class SnapshotRoom {
 public:
  explicit SnapshotRoom(Transport& transport);
  ~SnapshotRoom();
  SnapshotRoom(const SnapshotRoom&) = delete;
  SnapshotRoom& operator=(const SnapshotRoom&) = delete;

  MemberId join(int fd);
  void broadcast(MemberId from, cs::ByteView payload);
  void leave(MemberId id);
  std::size_t members() const;

 private:
  // One member's connection, shared by the room and by every snapshot that
  // copied it. Created by join(); the last owner to let go (leave(), or the
  // broadcast that was still writing to it) destroys it, which closes the
  // descriptor. So the number cannot be closed, nor reused by a new member,
  // while any snapshot can still write to it.
  class Member {
   public:
    Member(int fd, Transport& transport) : fd_(fd), transport_(transport) {}
    ~Member() { transport_.close(fd_); }
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

    // Writes one whole frame, unless the member has left. Holds the write
    // lock for the whole frame, so frames to this member never interleave.
    // Thread-safe.
    void write_frame(cs::ByteView frame);

    // No frame starts after this; a frame in progress finishes (the other
    // writers wait for it, not leave()). Thread-safe.
    void mark_left() { left_.store(true); }

   private:
    const int fd_;
    Transport& transport_;
    std::mutex write_mutex_;          // held by the one writer of a frame
    std::atomic<bool> left_{false};   // set by leave(); read before each frame
  };

  Transport& transport_;
  mutable std::mutex mutex_;  // guards the list only; never held while writing
  std::vector<std::pair<MemberId, std::shared_ptr<Member>>> members_;  // guarded by mutex_, in join order
  MemberId next_id_ = 1;                                               // guarded by mutex_
};

}  // namespace exercises
