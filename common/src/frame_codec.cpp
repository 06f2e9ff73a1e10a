// Length-prefix frame codec; see frame_codec.hpp for the contract.
#include "cs/frame_codec.hpp"

namespace cs {

// Big-endian by shifts, one byte at a time: no cast into the buffer (an
// unaligned read), no dependence on the host's byte order, and no socket
// header (ntohl lives in <arpa/inet.h> on POSIX, <winsock2.h> on Windows).
std::uint32_t read_frame_length(ByteView header) {
  std::uint32_t length = 0;
  for (std::size_t i = 0; i < frame_header_length; ++i) {
    length = (length << 8) | header[i];
  }
  return length;
}

void append_frame_header(std::uint32_t length, Bytes& out) {
  const Byte header[frame_header_length] = {
      static_cast<Byte>(length >> 24), static_cast<Byte>(length >> 16),
      static_cast<Byte>(length >> 8), static_cast<Byte>(length)};
  out.insert(out.end(), header, header + frame_header_length);
}

void append_frame(ByteView payload, Bytes& out) {
  out.reserve(out.size() + frame_header_length + payload.size());
  append_frame_header(static_cast<std::uint32_t>(payload.size()), out);
  out.insert(out.end(), payload.begin(), payload.end());
}

void FrameDecoder::feed(ByteView chunk) {
  if (error_) return;  // after a protocol error the stream is meaningless
  if (consumed_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(consumed_));
    consumed_ = 0;
  }
  buffer_.insert(buffer_.end(), chunk.begin(), chunk.end());
}

std::optional<ByteView> FrameDecoder::next() {
  if (error_) return std::nullopt;
  const ByteView pending = ByteView(buffer_).subspan(consumed_);
  if (pending.size() < frame_header_length) return std::nullopt;

  const std::uint32_t length = read_frame_length(pending);
  if (length > max_payload_) {
    error_ = "frame of " + std::to_string(length) + " bytes exceeds the limit of " +
             std::to_string(max_payload_) + " bytes (--max-frame)";
    return std::nullopt;
  }
  if (pending.size() - frame_header_length < length) return std::nullopt;

  consumed_ += frame_header_length + length;
  return pending.subspan(frame_header_length, length);
}

}  // namespace cs
