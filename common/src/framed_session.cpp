// The framed protocol; see framed_session.hpp.
#include "cs/framed_session.hpp"

#include "cs/cpu_work.hpp"

namespace cs {

void FramedSession::greet(Bytes&) {}

Verdict FramedSession::on_receive(ByteView in, Bytes& out) {
  decoder_.feed(in);
  while (const auto payload = decoder_.next()) {
    spend_cpu(work_);
    out.reserve(out.size() + frame_header_length + payload->size());
    append_frame_header(static_cast<std::uint32_t>(payload->size()), out);
    for (const Byte b : *payload) out.push_back(static_cast<Byte>(b + 1));
    ++frames_;
  }
  if (const auto& error = decoder_.error()) return Verdict::close_because(*error);
  return Verdict::keep_open();
}

}  // namespace cs
