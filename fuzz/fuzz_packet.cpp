// Fuzzes part4::PacketSession (part4_iocp/servers/packet_session.hpp)
// against a model of the packet protocol. See harness.hpp.
#include "harness.hpp"
#include "packet_session.hpp"

namespace {

// The packet protocol (docs/protocol.md): byte 0 of a packet is n, the
// length of the whole packet including that byte. A complete packet is
// echoed unchanged when its last byte arrives; a header of 0 or 1 closes
// the connection when it arrives, with no reply for it. No greeting.
fuzz::Model packet_model(fuzz::ByteView stream) {
  fuzz::Model model;
  std::size_t position = 0;
  while (position < stream.size()) {
    const std::size_t n = stream[position];
    if (n < 2) {
      model.events.push_back({position, {}, false, /*close=*/true});
      break;
    }
    if (stream.size() - position < n) break;  // the rest of the packet has not arrived
    const fuzz::ByteView packet = stream.subspan(position, n);
    model.events.push_back(
        {position + n - 1, fuzz::Bytes(packet.begin(), packet.end()), /*request=*/true});
    position += n;
  }
  return model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input input = fuzz::parse_input(data, size);
  part4::PacketSession session;
  fuzz::drive("packet", session, packet_model(input.stream),
              fuzz::split(input.stream, input.chunk_sizes));
  return 0;
}
