// Fuzzes cs::ShiftSession (made by cs::make_session) against a model of the
// shift protocol. See harness.hpp for the input layout and the checks.
#include <algorithm>

#include "cs/session.hpp"
#include "harness.hpp"

namespace {

// The shift protocol as docs/protocol.md states it, over the whole stream:
// find the next '^'; the message is everything up to the next '$'; each of
// its bytes is answered with that byte plus one (mod 256), and the '$'
// completes a request. Bytes outside a message are answered with nothing.
fuzz::Model shift_model(fuzz::ByteView stream) {
  fuzz::Model model;
  model.greeting = {'*'};
  const auto begin = stream.begin();
  auto position = begin;
  while (true) {
    const auto start = std::find(position, stream.end(), '^');
    if (start == stream.end()) break;  // no message (any more): the rest is ignored
    const auto end = std::find(start + 1, stream.end(), '$');  // stream.end(): unfinished
    for (auto byte = start + 1; byte != end; ++byte) {
      const auto shifted = static_cast<fuzz::Byte>((*byte + 1) % 256);
      model.events.push_back({static_cast<std::size_t>(byte - begin), {shifted}});
    }
    if (end == stream.end()) break;
    model.events.push_back({static_cast<std::size_t>(end - begin), {}, /*request=*/true});
    position = end + 1;
  }
  return model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input input = fuzz::parse_input(data, size);
  const auto session = cs::make_session(cs::Protocol::shift, cs::SessionLimits{});
  fuzz::drive("shift", *session, shift_model(input.stream),
              fuzz::split(input.stream, input.chunk_sizes));
  return 0;
}
