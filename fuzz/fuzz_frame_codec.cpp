// Fuzzes the frame codec (common/include/cs/frame_codec.hpp) through its
// own interface, not a session: FrameDecoder's feed/next/error/buffered
// contract, and the header helpers. The limit comes from the input
// (mostly 0..63 bytes, also 1 MiB and 2^32 - 1). See harness.hpp.
//
// Checked after every chunk, against fuzz::model_frames:
// - next() returns exactly the payloads of the frames completed so far, in
//   order, each once; all the views of one round are compared only after
//   the last next() of the round, since the contract keeps them valid until
//   the next feed() (AddressSanitizer reports a view that is not);
// - error() is set exactly once the 4th byte of an oversized header is in,
//   and from then on next() returns nothing, whatever is fed;
// - buffered() is the bytes after the last complete frame.
// And once per input: append_frame_header / read_frame_length / append_frame
// agree with the model's header on a length taken from the input.
#include <string>
#include <vector>

#include "cs/frame_codec.hpp"
#include "frame_model.hpp"
#include "harness.hpp"

namespace {

void check_header_helpers(fuzz::ByteView stream) {
  if (stream.size() < 4) return;
  const fuzz::ByteView header = stream.first(4);
  const std::uint64_t length = std::uint64_t{header[0]} * 256 * 256 * 256 +
                               std::uint64_t{header[1]} * 256 * 256 +
                               std::uint64_t{header[2]} * 256 + header[3];
  if (cs::read_frame_length(header) != length) {
    fuzz::fail("frame-codec", "read_frame_length(" + fuzz::hex(header) + ") is " +
                                  std::to_string(cs::read_frame_length(header)) + ", not " +
                                  std::to_string(length));
  }
  fuzz::Bytes written = {'o', 'l', 'd'};
  cs::append_frame_header(static_cast<std::uint32_t>(length), written);
  fuzz::Bytes expected = {'o', 'l', 'd'};
  const fuzz::Bytes model_header = fuzz::model_header(length);
  expected.insert(expected.end(), model_header.begin(), model_header.end());
  if (written != expected) {
    fuzz::fail("frame-codec", "append_frame_header(" + std::to_string(length) + ") wrote " +
                                  fuzz::hex(written) + ", not " + fuzz::hex(expected));
  }
  const fuzz::ByteView payload = stream.subspan(4);
  fuzz::Bytes frame;
  cs::append_frame(payload, frame);
  expected = fuzz::model_header(payload.size());
  expected.insert(expected.end(), payload.begin(), payload.end());
  if (frame != expected) {
    fuzz::fail("frame-codec", "append_frame of " + std::to_string(payload.size()) +
                                  " bytes wrote " + fuzz::hex(frame) + ", not " +
                                  fuzz::hex(expected));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fuzz::Input input = fuzz::parse_input(data, size);
  const std::uint32_t max_payload = fuzz::frame_limit(input.limit);
  check_header_helpers(input.stream);

  const fuzz::ModelFrames model = fuzz::model_frames(input.stream, max_payload);
  const std::vector<fuzz::ByteView> chunks = fuzz::split(input.stream, input.chunk_sizes);
  cs::FrameDecoder decoder(max_payload);
  std::size_t fed = 0;
  std::size_t next_frame = 0;       // index into model.frames of the next one to come out
  std::size_t last_frame_end = 0;   // offset just past the last frame returned
  for (std::size_t index = 0; index < chunks.size(); ++index) {
    decoder.feed(chunks[index]);
    fed += chunks[index].size();
    const auto where = [&] {  // built only when a check fails (it would slow every run)
      return "after chunk " + std::to_string(index + 1) + " of " + std::to_string(chunks.size()) +
             ", stream bytes 0.." + std::to_string(fed) + " fed, limit " +
             std::to_string(max_payload) + ":\n  ";
    };

    std::vector<fuzz::ByteView> returned;
    while (const auto payload = decoder.next()) returned.push_back(*payload);
    for (const fuzz::ByteView payload : returned) {
      if (next_frame >= model.frames.size() || model.frames[next_frame].last >= fed) {
        fuzz::fail("frame-codec", where() + "next() returned a frame the model does not have " +
                                      "yet: " + fuzz::hex(payload));
      }
      const fuzz::ByteView expected = model.frames[next_frame].payload;
      if (!std::equal(payload.begin(), payload.end(), expected.begin(), expected.end())) {
        fuzz::fail("frame-codec", where() + "frame " + std::to_string(next_frame + 1) +
                                      ": next() returned " + fuzz::hex(payload) + ", model " +
                                      fuzz::hex(expected));
      }
      last_frame_end = model.frames[next_frame].last + 1;
      ++next_frame;
    }
    if (next_frame < model.frames.size() && model.frames[next_frame].last < fed) {
      fuzz::fail("frame-codec", where() + "frame " + std::to_string(next_frame + 1) +
                                    " is complete, but next() returned nothing for it");
    }

    const bool error = model.error_at && *model.error_at < fed;
    if (decoder.error().has_value() != error) {
      fuzz::fail("frame-codec", where() + (error ? "a header announced " +
                                                     std::to_string(model.error_length) +
                                                     " bytes, but error() is empty"
                                               : "error() says \"" + *decoder.error() +
                                                     "\", the model sees no error"));
    }
    if (error) {
      if (decoder.next()) {
        fuzz::fail("frame-codec", where() + "next() returned a frame after an error");
      }
      continue;  // keep feeding: the decoder must stay stopped
    }
    if (decoder.buffered() != fed - last_frame_end) {
      fuzz::fail("frame-codec", where() + "buffered() is " + std::to_string(decoder.buffered()) +
                                    ", the model holds " + std::to_string(fed - last_frame_end) +
                                    " bytes of an unfinished frame");
    }
  }
  return 0;
}
