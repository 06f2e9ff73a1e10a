// Exercise part2-2: the snapshot broadcast, as chat-server ships it; the
// contract is in snapshot_room.hpp.
//
// This starting point is the published design: the list of descriptors is
// copied under the mutex and written outside it. Delivery, no echo and
// parallel broadcasts already work; frames interleave and descriptors are
// reused under a snapshot.
#include "snapshot_room.hpp"

#include <algorithm>

#include "cs/frame_codec.hpp"

namespace exercises {

SnapshotRoom::SnapshotRoom(Transport& transport) : transport_(transport) {}

SnapshotRoom::~SnapshotRoom() {
  for (const auto& [id, fd] : members_) transport_.close(fd);
}

MemberId SnapshotRoom::join(int fd) {
  std::lock_guard lock(mutex_);
  const MemberId id = next_id_++;
  members_.emplace_back(id, fd);
  return id;
}

void SnapshotRoom::broadcast(MemberId from, cs::ByteView payload) {
  cs::Bytes frame;
  cs::append_frame(payload, frame);
  std::vector<std::pair<MemberId, int>> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot = members_;
  }
  for (const auto& [id, fd] : snapshot) {
    if (id == from) continue;
    // EXERCISE(part2-2): nothing here stops another broadcast from writing
    // to `fd` between two partial writes of this frame, and `fd` may have
    // been closed (and reused) since the snapshot was taken.
    write_frame(fd, frame);
  }
}

void SnapshotRoom::leave(MemberId id) {
  int fd = -1;
  {
    std::lock_guard lock(mutex_);
    const auto found = std::find_if(members_.begin(), members_.end(),
                                    [id](const auto& member) { return member.first == id; });
    if (found == members_.end()) return;
    fd = found->second;
    members_.erase(found);
  }
  // EXERCISE(part2-2): a broadcast holding a snapshot may still be writing
  // to this descriptor.
  transport_.close(fd);
}

std::size_t SnapshotRoom::members() const {
  std::lock_guard lock(mutex_);
  return members_.size();
}

bool SnapshotRoom::write_frame(int fd, cs::ByteView frame) {
  while (!frame.empty()) {
    const std::size_t written = transport_.write_some(fd, frame);
    if (written == 0) return false;
    frame = frame.subspan(written);
  }
  return true;
}

}  // namespace exercises
