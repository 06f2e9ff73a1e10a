// The framed protocol (docs/protocol.md): each request is a frame (4-byte
// big-endian length, then the payload); the reply is a frame of the same
// length whose bytes are the request's plus one (mod 256). Frames may be
// pipelined; replies keep request order. A length over the limit closes the
// connection without a reply for that frame.
#pragma once

#include "cs/frame_codec.hpp"
#include "cs/session.hpp"

namespace cs {

class FramedSession final : public Session {
 public:
  explicit FramedSession(const SessionLimits& limits)
      : decoder_(limits.max_frame), work_(limits.work) {}

  void greet(Bytes& out) override;  // framed has no greeting

  // Appends one reply frame per complete request frame in the stream so far,
  // spending SessionLimits::work of CPU on each frame before its reply.
  // Closes (after sending the replies to earlier frames) on an oversized
  // length.
  Verdict on_receive(ByteView in, Bytes& out) override;

  std::uint64_t requests() const override { return frames_; }
  bool request_pending() const override { return decoder_.buffered() > 0; }

 private:
  FrameDecoder decoder_;
  std::chrono::microseconds work_;
  std::uint64_t frames_ = 0;
};

}  // namespace cs
