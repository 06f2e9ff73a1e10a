// The length-prefix codec: big-endian headers, the limit, and a decoder that
// returns each frame exactly once however the stream is split.
#include <gtest/gtest.h>

#include <string>

#include "cs/frame_codec.hpp"

namespace cs {
namespace {

std::string text(ByteView view) { return std::string(view.begin(), view.end()); }

TEST(FrameHeader, IsBigEndian) {
  Bytes out;
  append_frame_header(0x01020304u, out);
  EXPECT_EQ(out, (Bytes{1, 2, 3, 4}));
  EXPECT_EQ(read_frame_length(out), 0x01020304u);
}

TEST(FrameHeader, ReadsFromAnUnalignedPosition) {
  // The header starts at an odd address: memcpy makes this well-defined.
  const Bytes bytes = {0xEE, 0x00, 0x00, 0x01, 0x00};
  EXPECT_EQ(read_frame_length(ByteView(bytes).subspan(1)), 256u);
}

TEST(FrameHeader, RoundTripsExtremes) {
  for (const std::uint32_t length : {0u, 1u, 255u, 256u, 65535u, 65536u, 0xFFFFFFFFu}) {
    Bytes out;
    append_frame_header(length, out);
    EXPECT_EQ(read_frame_length(out), length);
  }
}

TEST(AppendFrame, PutsHeaderAndPayloadInOneBuffer) {
  Bytes out;
  append_frame(as_bytes("hi"), out);
  EXPECT_EQ(out, (Bytes{0, 0, 0, 2, 'h', 'i'}));
}

TEST(FrameDecoder, HeaderSplitAtEveryByte) {
  Bytes stream;
  append_frame(as_bytes("payload"), stream);
  for (std::size_t cut = 0; cut <= frame_header_length; ++cut) {
    FrameDecoder decoder(1024);
    decoder.feed(ByteView(stream).first(cut));
    EXPECT_FALSE(decoder.next()) << "complete frame reported after " << cut << " bytes";
    decoder.feed(ByteView(stream).subspan(cut));
    const auto frame = decoder.next();
    ASSERT_TRUE(frame) << "cut at " << cut;
    EXPECT_EQ(text(*frame), "payload");
    EXPECT_FALSE(decoder.next());
  }
}

TEST(FrameDecoder, OneByteAtATime) {
  Bytes stream;
  append_frame(as_bytes("abc"), stream);
  append_frame(as_bytes(""), stream);
  FrameDecoder decoder(1024);
  std::vector<std::string> frames;
  for (const Byte b : stream) {
    decoder.feed(ByteView(&b, 1));
    while (auto frame = decoder.next()) frames.push_back(text(*frame));
  }
  EXPECT_EQ(frames, (std::vector<std::string>{"abc", ""}));
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoder, ZeroLengthFrame) {
  FrameDecoder decoder(0);  // a limit of 0 still admits empty frames
  decoder.feed(Bytes{0, 0, 0, 0});
  const auto frame = decoder.next();
  ASSERT_TRUE(frame);
  EXPECT_TRUE(frame->empty());
  EXPECT_FALSE(decoder.error());
}

TEST(FrameDecoder, ExactlyTheMaximumIsAccepted) {
  Bytes stream;
  append_frame(Bytes(100, 'x'), stream);
  FrameDecoder decoder(100);
  decoder.feed(stream);
  const auto frame = decoder.next();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->size(), 100u);
  EXPECT_FALSE(decoder.error());
}

TEST(FrameDecoder, OneOverTheMaximumIsAnError) {
  Bytes stream;
  append_frame(Bytes(101, 'x'), stream);
  FrameDecoder decoder(100);
  decoder.feed(ByteView(stream).first(frame_header_length));  // header alone suffices
  EXPECT_FALSE(decoder.next());
  ASSERT_TRUE(decoder.error());
  EXPECT_NE(decoder.error()->find("101"), std::string::npos) << *decoder.error();
  decoder.feed(ByteView(stream).subspan(frame_header_length));
  EXPECT_FALSE(decoder.next()) << "a decoder in error must not resume";
}

TEST(FrameDecoder, PipelinedFramesInOneChunk) {
  Bytes stream;
  for (const char* payload : {"one", "", "three", "4"}) append_frame(as_bytes(payload), stream);
  append_frame_header(10, stream);  // and the start of a fifth frame
  stream.push_back('x');
  FrameDecoder decoder(1024);
  decoder.feed(stream);
  std::vector<std::string> frames;
  while (auto frame = decoder.next()) frames.push_back(text(*frame));
  EXPECT_EQ(frames, (std::vector<std::string>{"one", "", "three", "4"}));
  EXPECT_EQ(decoder.buffered(), frame_header_length + 1);
}

}  // namespace
}  // namespace cs
