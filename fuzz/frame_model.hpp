// The reference model of length-prefixed framing (docs/protocol.md,
// "framed"), shared by the three harnesses that read frames: the framed
// session, the chat server's receive loop and the frame codec itself.
//
// It reads the whole stream at once, front to back, with no buffering to
// get wrong: a 4-byte big-endian length L, then L bytes; a length over the
// limit is an error as soon as its 4 header bytes are there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "cs/bytes.hpp"

namespace fuzz {

struct ModelFrame {
  std::size_t header_at;  // offset of the first header byte
  std::size_t last;       // offset of the frame's last byte (the header's last if L = 0)
  cs::ByteView payload;
};

struct ModelFrames {
  std::vector<ModelFrame> frames;        // every complete frame, in order
  std::optional<std::size_t> error_at;   // offset of the 4th byte of an oversized header
  std::uint64_t error_length = 0;        // the length that header announced
};

inline ModelFrames model_frames(cs::ByteView stream, std::uint64_t max_payload) {
  ModelFrames model;
  std::size_t position = 0;
  while (stream.size() - position >= 4) {
    const std::uint64_t length = std::uint64_t{stream[position]} * 256 * 256 * 256 +
                                 std::uint64_t{stream[position + 1]} * 256 * 256 +
                                 std::uint64_t{stream[position + 2]} * 256 +
                                 std::uint64_t{stream[position + 3]};
    if (length > max_payload) {
      model.error_at = position + 3;
      model.error_length = length;
      break;
    }
    if (stream.size() - position - 4 < length) break;  // the rest has not arrived
    model.frames.push_back({position, position + 3 + static_cast<std::size_t>(length),
                            stream.subspan(position + 4, static_cast<std::size_t>(length))});
    position += 4 + static_cast<std::size_t>(length);
  }
  return model;
}

// A frame header for `length`, written out by arithmetic rather than shifts.
inline cs::Bytes model_header(std::uint64_t length) {
  return {static_cast<cs::Byte>(length / (256 * 256 * 256) % 256),
          static_cast<cs::Byte>(length / (256 * 256) % 256),
          static_cast<cs::Byte>(length / 256 % 256), static_cast<cs::Byte>(length % 256)};
}

}  // namespace fuzz
