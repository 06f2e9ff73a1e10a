// The packet protocol: exact echoes, bad headers, partial packets, and the
// same result for every split of the input, both through PacketSession and
// through PacketFramer the way the zero-copy echo server uses it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "packet_session.hpp"
#include "split_testing.hpp"

namespace part4 {
namespace {

using cs::testing::as_text;
using cs::testing::expect_split_invariant;
using cs::testing::feed_in_chunks;

std::unique_ptr<cs::Session> make_packet_session() { return std::make_unique<PacketSession>(); }

// One packet: the length byte (payload + 1), then the payload.
cs::Bytes packet(const std::string& payload) {
  cs::Bytes bytes{static_cast<cs::Byte>(payload.size() + 1)};
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

cs::Bytes concat(std::initializer_list<cs::Bytes> parts) {
  cs::Bytes all;
  for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

cs::testing::Run echo(const cs::Bytes& input, const std::vector<std::size_t>& cuts = {}) {
  return feed_in_chunks(make_packet_session, input, cuts);
}

TEST(PacketSession, HasNoGreeting) { EXPECT_TRUE(echo({}).output.empty()); }

TEST(PacketSession, EchoesAPacketUnchanged) {
  const cs::Bytes input = packet("hello");
  const auto run = echo(input);
  EXPECT_EQ(run.output, input);
  EXPECT_FALSE(run.verdict.close);
}

TEST(PacketSession, EchoesTheShortestAndTheLongestPacket) {
  const cs::Bytes input = concat({packet("x"), packet(std::string(254, 'L'))});
  ASSERT_EQ(input.size(), 2u + 255u);
  EXPECT_EQ(echo(input).output, input);
}

TEST(PacketSession, EchoesPipelinedPacketsInOrder) {
  const cs::Bytes input = concat({packet("one"), packet("two"), packet("three")});
  const auto run = echo(input);
  EXPECT_EQ(run.output, input);
}

TEST(PacketSession, HoldsAnIncompletePacketUntilItsLastByte) {
  PacketSession session;
  cs::Bytes out;
  const cs::Bytes input = packet("abcd");
  session.on_receive(cs::ByteView(input).first(3), out);
  EXPECT_TRUE(out.empty()) << "nothing may be echoed before the packet is complete";
  EXPECT_EQ(session.partial(), 3u);
  session.on_receive(cs::ByteView(input).subspan(3), out);
  EXPECT_EQ(out, input);
  EXPECT_EQ(session.partial(), 0u);
}

TEST(PacketSession, AHeaderOfZeroOrOneClosesWithoutAReplyForIt) {
  for (const cs::Byte bad : {cs::Byte{0}, cs::Byte{1}}) {
    const cs::Bytes good = concat({packet("ok"), packet("fine")});
    const auto run = echo(concat({good, cs::Bytes{bad}, packet("never")}));
    EXPECT_EQ(run.output, good) << "earlier packets are echoed, nothing after the bad header";
    EXPECT_TRUE(run.verdict.close);
    EXPECT_NE(run.verdict.reason.find("bad packet header " + std::to_string(bad)),
              std::string::npos)
        << run.verdict.reason;
  }
}

TEST(PacketSession, AnIncompletePacketAtTheEndIsNotEchoed) {
  const cs::Bytes complete = packet("done");
  PacketSession session;
  cs::Bytes out;
  const cs::Bytes input = concat({complete, cs::Bytes{10, 'a', 'b'}});
  session.on_receive(input, out);
  EXPECT_EQ(out, complete);
  EXPECT_EQ(session.partial(), 3u) << "what the server drops (and logs) at EOF";
}

TEST(PacketSession, CountsPackets) {
  PacketSession session;
  cs::Bytes out;
  session.on_receive(concat({packet("a"), packet("b"), cs::Bytes{5}}), out);
  EXPECT_EQ(session.requests(), 2u);
}

TEST(PacketSession, EverySplitGivesTheSameEchoes) {
  const cs::Bytes inputs[] = {
      concat({packet("hello"), packet("x"), packet(std::string(254, 'z')), packet("tail")}),
      concat({packet("a"), cs::Bytes{0}, packet("b")}),
      concat({packet("a"), packet("bc"), cs::Bytes{1}}),
      concat({packet("whole"), cs::Bytes{200, 'p', 'a', 'r'}}),  // ends inside a packet
      cs::Bytes{0},
      // Payload bytes 0 and 1 are data, not headers.
      concat({packet(std::string("\0\1\0", 3)), packet(std::string(1, '\1'))}),
  };
  for (const auto& input : inputs) {
    expect_split_invariant(make_packet_session, input);
  }
}

// --- PacketFramer, used the way packet-echo-server uses it -------------------

// Plays the zero-copy server: for each chunk, releases the held bytes and the
// chunk's complete prefix, and holds the rest. Its output must be
// PacketSession's, byte for byte, for every split.
cs::testing::Run echo_with_framer(cs::ByteView input, const std::vector<std::size_t>& cuts) {
  PacketFramer framer;
  cs::testing::Run run;
  cs::Bytes held;  // the server holds these as slices of received buffers
  std::size_t start = 0;
  auto feed = [&](std::size_t end) {
    if (run.verdict.close || end <= start) return;
    const cs::ByteView chunk = input.subspan(start, end - start);
    start = end;
    const PacketFramer::Cut cut = framer.advance(chunk);
    if (cut.complete > 0) {
      run.output.insert(run.output.end(), held.begin(), held.end());
      held.clear();
      run.output.insert(run.output.end(), chunk.begin(), chunk.begin() + cut.complete);
    }
    if (cut.error) {
      run.verdict = cs::Verdict::close_because(*cut.error);
      return;
    }
    held.insert(held.end(), chunk.begin() + cut.complete, chunk.end());
    EXPECT_EQ(held.size(), framer.partial());
  };
  for (const std::size_t cut : cuts) feed(cut);
  feed(input.size());
  return run;
}

TEST(PacketFramer, ReportsTheEndOfTheLastCompletePacketAndHowManyEnded) {
  PacketFramer framer;
  const cs::Bytes input = concat({packet("ab"), packet("c"), cs::Bytes{4, 'x'}});
  const auto cut = framer.advance(input);
  EXPECT_EQ(cut.complete, 5u);  // 3 + 2 bytes; the 2 bytes after are a packet in progress
  EXPECT_EQ(cut.packets, 2u);
  EXPECT_FALSE(cut.error);
  EXPECT_EQ(framer.partial(), 2u);

  const auto next = framer.advance(cs::to_bytes("yz"));
  EXPECT_EQ(next.complete, 2u) << "the packet begun in the previous chunk ends here";
  EXPECT_EQ(next.packets, 1u);
}

TEST(PacketFramer, StaysFailedAfterABadHeader) {
  PacketFramer framer;
  const auto cut = framer.advance(concat({packet("a"), cs::Bytes{0}}));
  EXPECT_EQ(cut.complete, 2u);
  ASSERT_TRUE(cut.error);
  EXPECT_TRUE(framer.failed());
  const auto later = framer.advance(packet("b"));
  EXPECT_TRUE(later.error);
  EXPECT_EQ(later.complete, 0u);
  EXPECT_EQ(later.packets, 0u);
}

TEST(PacketFramer, SlicingTheReceivedBytesGivesTheSessionsEchoesForEverySplit) {
  const cs::Bytes inputs[] = {
      concat({packet("hello"), packet("x"), packet(std::string(254, 'z')), packet("tail")}),
      concat({packet("a"), cs::Bytes{1}, packet("b")}),
      concat({packet("whole"), cs::Bytes{9, 'p'}}),
  };
  std::mt19937 random(777);
  for (const auto& input : inputs) {
    const cs::testing::Run whole = echo(input);
    std::vector<std::vector<std::size_t>> splits = {{}, cs::testing::every_byte(input.size())};
    for (std::size_t cut = 1; cut < input.size(); ++cut) splits.push_back({cut});
    for (int round = 0; round < 100; ++round) {
      splits.push_back(cs::testing::random_cuts(input.size(), random));
    }
    for (const auto& cuts : splits) {
      const cs::testing::Run sliced = echo_with_framer(input, cuts);
      ASSERT_EQ(sliced.output, whole.output);
      ASSERT_EQ(sliced.verdict.close, whole.verdict.close);
      ASSERT_EQ(sliced.verdict.reason, whole.verdict.reason);
    }
  }
}

}  // namespace
}  // namespace part4
