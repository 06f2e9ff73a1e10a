// The framed protocol; see framed_session.hpp.
#include "cs/framed_session.hpp"

#include <algorithm>
#include <cstddef>

#include "cs/cpu_work.hpp"

namespace cs {

void FramedSession::greet(Bytes&) {}

Verdict FramedSession::on_receive(ByteView in, Bytes& out) {
  decoder_.feed(in);
  while (const auto payload = decoder_.next()) {
    spend_cpu(work_);
    out.reserve(out.size() + frame_header_length + payload->size());
    append_frame_header(static_cast<std::uint32_t>(payload->size()), out);
    // Sized once and filled by one transform, where a push_back per byte
    // would check the capacity at every byte.
    const std::size_t at = out.size();
    out.resize(at + payload->size());
    std::transform(payload->begin(), payload->end(), out.begin() + static_cast<std::ptrdiff_t>(at),
                   [](Byte b) { return static_cast<Byte>(b + 1); });
    ++frames_;
  }
  if (const auto& error = decoder_.error()) return Verdict::close_because(*error);
  return Verdict::keep_open();
}

}  // namespace cs
