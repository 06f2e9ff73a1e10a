// Length-prefixed framing: a 4-byte unsigned big-endian length, then that
// many payload bytes. Used by the framed protocol, the chat room and the
// benchmark clients.
//
// The header is decoded byte by byte with shifts, never by casting a
// pointer into the buffer (that cast is an unaligned read and undefined
// behaviour), so it needs neither the host's byte order nor a socket header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "cs/bytes.hpp"

namespace cs {

inline constexpr std::size_t frame_header_length = 4;

// Decodes the 4-byte big-endian length at the start of `header`
// (which must hold at least frame_header_length bytes).
std::uint32_t read_frame_length(ByteView header);

// Appends a header for `length` to `out`.
void append_frame_header(std::uint32_t length, Bytes& out);

// Appends header + payload to `out`, so a writer sends a frame with one
// write and Nagle's algorithm never holds back half of it.
void append_frame(ByteView payload, Bytes& out);

// Incremental frame decoder: feed it chunks as they arrive; it hands back
// each complete payload exactly once, however the stream was split.
//
//   FrameDecoder decoder(max);
//   decoder.feed(chunk);
//   while (auto frame = decoder.next()) use(*frame);
//   if (decoder.error()) close the connection;
//
// A header announcing more than `max_payload` bytes is an error: the decoder
// stops (next() returns nothing from then on) and error() says why, so a
// peer cannot make the server buffer an arbitrarily large frame. Not
// thread-safe.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t max_payload) : max_payload_(max_payload) {}

  void feed(ByteView chunk);

  // The next complete payload, or nullopt if more bytes are needed (or after
  // an error). The view points into the decoder's buffer: it stays valid
  // until the next call to feed(), which may move the buffer.
  std::optional<ByteView> next();

  // Set once a header exceeded the limit; empty otherwise.
  const std::optional<std::string>& error() const { return error_; }

  // Bytes received but not yet returned as a frame (a partial frame).
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::uint32_t max_payload_;
  Bytes buffer_;
  std::size_t consumed_ = 0;  // bytes at the front of buffer_ already returned;
                              // dropped by the next feed(), not by next(), so
                              // views handed out stay valid until then
  std::optional<std::string> error_;
};

}  // namespace cs
