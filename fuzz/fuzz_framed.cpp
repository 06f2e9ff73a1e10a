// Fuzzes cs::FramedSession (made by cs::make_session) against a model of the
// framed protocol, with a --max-frame limit chosen by the input (mostly
// 0..63 bytes, so short inputs cross it). See harness.hpp.
#include "cs/session.hpp"
#include "frame_model.hpp"
#include "harness.hpp"

namespace {

// The framed protocol (docs/protocol.md): each complete frame is answered
// with a frame of the same length whose bytes are the request's plus one,
// when its last byte arrives; a header over the limit closes the connection
// as soon as its 4th byte arrives, with no reply for it. No greeting.
fuzz::Model framed_model(fuzz::ByteView stream, std::uint32_t max_frame) {
  const fuzz::ModelFrames frames = fuzz::model_frames(stream, max_frame);
  fuzz::Model model;
  for (const fuzz::ModelFrame& frame : frames.frames) {
    fuzz::Bytes reply = fuzz::model_header(frame.payload.size());
    for (const fuzz::Byte byte : frame.payload) {
      reply.push_back(static_cast<fuzz::Byte>((byte + 1) % 256));
    }
    model.events.push_back({frame.last, reply, /*request=*/true});
  }
  if (frames.error_at) model.events.push_back({*frames.error_at, {}, false, /*close=*/true});
  return model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input input = fuzz::parse_input(data, size);
  cs::SessionLimits limits;
  limits.max_frame = fuzz::frame_limit(input.limit);
  const auto session = cs::make_session(cs::Protocol::framed, limits);
  fuzz::drive("framed", *session, framed_model(input.stream, limits.max_frame),
              fuzz::split(input.stream, input.chunk_sizes));
  return 0;
}
