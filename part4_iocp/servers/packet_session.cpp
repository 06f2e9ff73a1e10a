// The packet protocol; see packet_session.hpp.
#include "packet_session.hpp"

#include <algorithm>

namespace part4 {

PacketFramer::Cut PacketFramer::advance(cs::ByteView chunk) {
  Cut cut;
  if (error_) {
    cut.error = error_;
    return cut;
  }
  std::size_t position = 0;
  while (position < chunk.size()) {
    if (packet_length_ == 0) {
      const std::size_t header = chunk[position];
      if (header < smallest_packet) {
        error_ = "bad packet header " + std::to_string(header) + " (a packet's length byte, " +
                 "which counts itself, must be " + std::to_string(smallest_packet) + ".." +
                 std::to_string(largest_packet) + ")";
        cut.error = error_;
        return cut;
      }
      packet_length_ = header;
      received_ = 1;
      ++position;
      continue;  // a header alone never completes a packet (n >= 2)
    }
    const std::size_t wanted = packet_length_ - received_;
    const std::size_t taken = std::min(wanted, chunk.size() - position);
    received_ += taken;
    position += taken;
    if (received_ == packet_length_) {
      ++cut.packets;
      cut.complete = position;
      packet_length_ = 0;
      received_ = 0;
    }
  }
  return cut;
}

void PacketSession::greet(cs::Bytes&) {}

cs::Verdict PacketSession::on_receive(cs::ByteView in, cs::Bytes& out) {
  const PacketFramer::Cut cut = framer_.advance(in);
  if (cut.complete > 0) {
    out.insert(out.end(), held_.begin(), held_.end());
    held_.clear();
    out.insert(out.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(cut.complete));
  }
  packets_ += cut.packets;
  if (cut.error) return cs::Verdict::close_because(*cut.error);
  // A bad header can only start a packet, so when there is an error nothing
  // is held; otherwise the rest of the chunk is the packet in progress.
  held_.insert(held_.end(), in.begin() + static_cast<std::ptrdiff_t>(cut.complete), in.end());
  return cs::Verdict::keep_open();
}

}  // namespace part4
