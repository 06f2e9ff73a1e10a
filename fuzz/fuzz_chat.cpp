// Fuzzes the chat server's handling of the bytes a client sends
// (part2_threads/chat): the frame decoder fed chunk by chunk, and each
// complete frame rebuilt by chat::make_frame for the broadcast, against a
// model of the chat protocol, with a --max-frame limit chosen by the input.
// See harness.hpp.
//
// The receive loop itself lives in chat_server.cpp (serve_connection),
// next to its socket; ChatReceiver below is that loop with the socket and
// the room taken out, so the harness can drive it like any cs::Session. The
// parts under test are the real ones: cs::FrameDecoder and chat::make_frame.
#include "chat_room.hpp"
#include "cs/frame_codec.hpp"
#include "frame_model.hpp"
#include "harness.hpp"

namespace {

// serve_connection's loop: feed, hand every complete frame to the room
// (here: append it to `out`), close on a decoder error. Its request timer
// is told a request is under way while decoder.buffered() > 0.
class ChatReceiver final : public cs::Session {
 public:
  explicit ChatReceiver(std::uint32_t max_frame) : decoder_(max_frame) {}

  void greet(cs::Bytes&) override {}  // the chat server sends nothing of its own

  cs::Verdict on_receive(cs::ByteView in, cs::Bytes& out) override {
    decoder_.feed(in);
    while (const auto payload = decoder_.next()) {
      const chat::Frame frame = chat::make_frame(*payload);  // what room.broadcast() gets
      out.insert(out.end(), frame->begin(), frame->end());
      ++frames_;
    }
    if (decoder_.error()) return cs::Verdict::close_because(*decoder_.error());
    return cs::Verdict::keep_open();
  }

  std::uint64_t requests() const override { return frames_; }
  bool request_pending() const override { return decoder_.buffered() > 0; }

 private:
  cs::FrameDecoder decoder_;
  std::uint64_t frames_ = 0;
};

// The chat protocol (docs/part2_chat.md): every complete frame a client
// sends goes to the room unchanged, header and all, when its last byte
// arrives; a header over the limit closes that client as soon as its 4th
// byte arrives, and that frame goes nowhere.
fuzz::Model chat_model(fuzz::ByteView stream, std::uint32_t max_frame) {
  const fuzz::ModelFrames frames = fuzz::model_frames(stream, max_frame);
  fuzz::Model model;
  for (const fuzz::ModelFrame& frame : frames.frames) {
    const fuzz::ByteView whole = stream.subspan(frame.header_at, frame.last + 1 - frame.header_at);
    model.events.push_back({frame.last, fuzz::Bytes(whole.begin(), whole.end()), /*request=*/true});
  }
  if (frames.error_at) model.events.push_back({*frames.error_at, {}, false, /*close=*/true});
  return model;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input input = fuzz::parse_input(data, size);
  const std::uint32_t max_frame = fuzz::frame_limit(input.limit);
  ChatReceiver receiver(max_frame);
  fuzz::drive("chat", receiver, chat_model(input.stream, max_frame),
              fuzz::split(input.stream, input.chunk_sizes));
  return 0;
}
