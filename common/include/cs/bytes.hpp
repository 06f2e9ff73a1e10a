// Byte types shared by the protocol core and the socket layer.
//
// Protocol code works on unsigned bytes because the shift protocol does
// arithmetic on them (b + 1 wraps 0xFF to 0x00), which std::byte makes noisy.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace cs {

using Byte = std::uint8_t;
using Bytes = std::vector<Byte>;        // an owned, growable run of bytes
using ByteView = std::span<const Byte>;  // bytes someone else owns

// Views text as bytes, for tests and literals ("^abc$"). No copy.
inline ByteView as_bytes(std::string_view text) {
  return {reinterpret_cast<const Byte*>(text.data()), text.size()};
}

inline Bytes to_bytes(std::string_view text) {
  auto view = as_bytes(text);
  return Bytes(view.begin(), view.end());
}

}  // namespace cs
