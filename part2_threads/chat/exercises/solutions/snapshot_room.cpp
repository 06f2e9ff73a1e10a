// Reference solution of exercise part2-2; the contract is in
// ../snapshot_room.hpp.
//
// Two changes to the published design, one per flaw:
//  1. Each member has a write mutex held for a whole frame, so two
//     broadcasts reaching one member take turns, frame by frame. The room's
//     list mutex is still never held while writing: broadcasts to different
//     members go on in parallel, and one that waits, waits at one member.
//  2. Snapshots copy shared_ptrs to the members, not descriptor numbers. A
//     member that leaves is removed from the list, but its descriptor is
//     closed only when the last snapshot holding it lets go, so it cannot be
//     reused while a broadcast may still write to it.
// What it keeps: a member that stops reading still blocks every broadcast
// that reaches it (each sender's thread, in turn, at that member). Bounding
// that needs a queue per member, the server's `queue` strategy.
#include "snapshot_room.hpp"

#include <algorithm>

#include "cs/frame_codec.hpp"

namespace exercises {

void SnapshotRoom::Member::write_frame(cs::ByteView frame) {
  std::lock_guard lock(write_mutex_);
  if (left_.load()) return;
  while (!frame.empty()) {
    const std::size_t written = transport_.write_some(fd_, frame);
    if (written == 0) return;  // broken: its own thread will notice and leave
    frame = frame.subspan(written);
  }
}

SnapshotRoom::SnapshotRoom(Transport& transport) : transport_(transport) {}

// Destroying the shared_ptrs closes the members' descriptors (no broadcast
// can be running: the room must outlive the calls).
SnapshotRoom::~SnapshotRoom() = default;

MemberId SnapshotRoom::join(int fd) {
  auto member = std::make_shared<Member>(fd, transport_);
  std::lock_guard lock(mutex_);
  const MemberId id = next_id_++;
  members_.emplace_back(id, std::move(member));
  return id;
}

void SnapshotRoom::broadcast(MemberId from, cs::ByteView payload) {
  cs::Bytes frame;
  cs::append_frame(payload, frame);
  std::vector<std::shared_ptr<Member>> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot.reserve(members_.size());
    for (const auto& [id, member] : members_) {
      if (id != from) snapshot.push_back(member);
    }
  }
  for (const auto& member : snapshot) member->write_frame(frame);
  // The snapshot's references go here: a member that left meanwhile is
  // destroyed (its descriptor closed) by the last broadcast that held it.
}

void SnapshotRoom::leave(MemberId id) {
  std::shared_ptr<Member> member;
  {
    std::lock_guard lock(mutex_);
    const auto found = std::find_if(members_.begin(), members_.end(),
                                    [id](const auto& entry) { return entry.first == id; });
    if (found == members_.end()) return;
    member = std::move(found->second);
    members_.erase(found);
  }
  member->mark_left();
  // Dropping our reference closes the descriptor now if no broadcast holds
  // the member, or later, when the last one that does returns.
}

std::size_t SnapshotRoom::members() const {
  std::lock_guard lock(mutex_);
  return members_.size();
}

}  // namespace exercises
