// Unit tests of the chat room (chat_room.hpp), in-process: members are the
// server ends of socketpairs, the tests read the other ends. The Outbox's
// bounds and states; for every strategy, that a frame reaches every other
// member and never its sender; for the queue strategy, that a member that
// never reads is dropped without stalling the broadcaster, and that a
// shutdown flushes what is queued but no longer than the grace period.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chat_room.hpp"
#include "cs/frame_codec.hpp"

namespace chat {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every wait below is bounded by this; a correct room needs far less, so
// reaching it means the behaviour under test is broken.
constexpr auto patience = 10s;

Frame frame_of(std::string_view text) { return make_frame(cs::as_bytes(text)); }

Frame frame_of_size(std::size_t size, char fill) { return frame_of(std::string(size, fill)); }

// A room member on one end of a socketpair; the test plays the client on
// the other end.
struct TestMember {
  cs::FileDescriptor server_end;
  cs::FileDescriptor client_end;
  Member member;
};

std::unique_ptr<TestMember> make_member(std::uint64_t id, int buffer_size = 0) {
  int ends[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
  auto m = std::make_unique<TestMember>();
  m->server_end.reset(ends[0]);
  m->client_end.reset(ends[1]);
  if (buffer_size > 0) {
    ::setsockopt(ends[0], SOL_SOCKET, SO_SNDBUF, &buffer_size, sizeof buffer_size);
    ::setsockopt(ends[1], SOL_SOCKET, SO_RCVBUF, &buffer_size, sizeof buffer_size);
  }
  m->member = Member{id, ends[0], cs::Endpoint{"member", static_cast<std::uint16_t>(id)}};
  return m;
}

// Reads one whole frame from a client end, or nullopt at EOF, on an error,
// or after `patience`. Reads byte-exact (header, then payload) so that
// nothing past the frame is consumed.
std::optional<std::string> read_frame(int fd) {
  const auto deadline = Clock::now() + patience;
  auto read_exactly = [&](cs::Byte* into, std::size_t size) {
    std::size_t got = 0;
    while (got < size) {
      if (cs::wait_for(fd, POLLIN, -1, deadline) != cs::WaitResult::ready) return false;
      const ssize_t n = cs::recv_some(fd, std::span(into + got, size - got));
      if (n == 0) return false;
      if (n < 0 && errno != EAGAIN) return false;
      if (n > 0) got += static_cast<std::size_t>(n);
    }
    return true;
  };
  cs::Byte header[cs::frame_header_length];
  if (!read_exactly(header, sizeof header)) return std::nullopt;
  std::string payload(cs::read_frame_length(header), '\0');
  if (!read_exactly(reinterpret_cast<cs::Byte*>(payload.data()), payload.size())) {
    return std::nullopt;
  }
  return payload;
}

// Reads until EOF or an error; returns the bytes read, or nullopt if the
// connection was still open after `patience`.
std::optional<std::size_t> drain_until_closed(int fd) {
  const auto deadline = Clock::now() + patience;
  std::size_t total = 0;
  cs::Byte buffer[64 * 1024];
  for (;;) {
    if (cs::wait_for(fd, POLLIN, -1, deadline) != cs::WaitResult::ready) return std::nullopt;
    const ssize_t n = cs::recv_some(fd, buffer);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return total;
    if (n > 0) total += static_cast<std::size_t>(n);
  }
}

// --- Outbox ------------------------------------------------------------------

// The payloads of a batch, for comparisons.
std::vector<std::string> texts(const std::vector<Frame>& batch) {
  std::vector<std::string> result;
  for (const Frame& frame : batch) {
    result.emplace_back(frame->begin() + cs::frame_header_length, frame->end());
  }
  return result;
}

using Texts = std::vector<std::string>;

TEST(Outbox, TakesEveryQueuedFrameInPushOrder) {
  Outbox outbox(10, 1000);
  EXPECT_EQ(outbox.push(frame_of("a")).outcome, Outbox::Outcome::queued);
  EXPECT_EQ(outbox.push(frame_of("b")).outcome, Outbox::Outcome::queued);
  EXPECT_EQ(texts(outbox.take_all()), (Texts{"a", "b"}));
  EXPECT_EQ(outbox.push(frame_of("c")).outcome, Outbox::Outcome::queued);
  EXPECT_EQ(texts(outbox.take_all()), Texts{"c"});
}

TEST(Outbox, OverflowOnTheFrameBoundAbortsOnceThenRefuses) {
  Outbox outbox(2, 1000);
  EXPECT_EQ(outbox.push(frame_of("a")).outcome, Outbox::Outcome::queued);
  EXPECT_EQ(outbox.push(frame_of("b")).outcome, Outbox::Outcome::queued);
  const auto overflow = outbox.push(frame_of("c"));
  EXPECT_EQ(overflow.outcome, Outbox::Outcome::overflow);
  EXPECT_EQ(overflow.frames_waiting, 2u);
  EXPECT_EQ(overflow.bytes_waiting, 10u);  // two frames of 4 + 1 bytes
  EXPECT_TRUE(outbox.aborted());
  EXPECT_EQ(outbox.push(frame_of("d")).outcome, Outbox::Outcome::refused);
  EXPECT_TRUE(outbox.take_all().empty());  // the queued frames were discarded
}

TEST(Outbox, OverflowOnTheByteBound) {
  Outbox outbox(100, 20);
  EXPECT_EQ(outbox.push(frame_of_size(8, 'x')).outcome, Outbox::Outcome::queued);  // 12 bytes
  EXPECT_EQ(outbox.push(frame_of_size(4, 'y')).outcome, Outbox::Outcome::queued);  // 20: full
  EXPECT_EQ(outbox.push(frame_of("")).outcome, Outbox::Outcome::overflow);        // 24
}

TEST(Outbox, TakenFramesNoLongerCount) {
  Outbox outbox(1, 1000);
  EXPECT_EQ(outbox.push(frame_of("a")).outcome, Outbox::Outcome::queued);
  EXPECT_EQ(outbox.take_all().size(), 1u);
  EXPECT_EQ(outbox.push(frame_of("b")).outcome, Outbox::Outcome::queued);
}

TEST(Outbox, CloseLetsTheWriterDrainThenEnds) {
  Outbox outbox(10, 1000);
  outbox.push(frame_of("a"));
  outbox.close();
  EXPECT_EQ(outbox.push(frame_of("b")).outcome, Outbox::Outcome::refused);
  EXPECT_EQ(texts(outbox.take_all()), Texts{"a"});
  EXPECT_TRUE(outbox.take_all().empty());
  EXPECT_FALSE(outbox.aborted());
}

TEST(Outbox, TakeWaitsForAPushAndIsWokenByAbort) {
  Outbox outbox(10, 1000);
  std::vector<Frame> taken;
  std::thread writer([&] { taken = outbox.take_all(); });
  outbox.push(frame_of("late"));
  writer.join();
  EXPECT_EQ(texts(taken), Texts{"late"});

  bool ended = false;
  std::thread idle_writer([&] { ended = outbox.take_all().empty(); });
  outbox.abort();
  idle_writer.join();
  EXPECT_TRUE(ended);
}

// --- send_whole ---------------------------------------------------------------

TEST(SendWhole, GivesUpAtTheShutdownDeadlineWhenNobodyReads) {
  auto m = make_member(1, 4096);
  cs::StopSignal stop;
  stop.request_stop();
  const cs::Bytes big(1 << 20, 'x');
  const auto start = Clock::now();
  errno = 0;
  EXPECT_FALSE(send_whole(m->member.fd, big, stop, 50ms));
  EXPECT_EQ(errno, ETIMEDOUT);
  EXPECT_LT(Clock::now() - start, patience);
}

TEST(SendFrames, SendsABatchInOrderThroughPartialWrites) {
  auto m = make_member(1, 4096);  // the batch is far larger than the socket buffers
  cs::StopSignal stop;
  std::vector<Frame> batch;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string text(100 + i * 37, static_cast<char>('a' + i % 26));
    batch.push_back(frame_of(text));
    expected += text;
  }
  std::string received;
  std::thread reader([&] {
    for (int i = 0; i < 200; ++i) {
      const auto frame = read_frame(m->client_end.get());
      if (!frame) break;
      received += *frame;
    }
  });
  EXPECT_TRUE(send_frames(m->member.fd, batch, stop, 2000ms));
  reader.join();
  EXPECT_EQ(received, expected);
}

// --- every strategy -------------------------------------------------------------

// Each test below runs once per strategy (plain TESTs, so ctest names read
// part2.chat.unit.GlobalLockRoom.LargeFramesArriveWhole and so on).
struct RoomUnderTest {
  explicit RoomUnderTest(Broadcast strategy)
      : room(make_room(RoomOptions{strategy, default_queue_frames, default_queue_bytes, 2000ms},
                       stop, stats)) {}
  cs::StopSignal stop;
  ChatStats stats;
  std::unique_ptr<ChatRoom> room;
};

void frame_reaches_every_other_member_and_never_its_sender(Broadcast strategy) {
  RoomUnderTest t(strategy);
  ChatRoom& room = *t.room;
  auto a = make_member(1), b = make_member(2), c = make_member(3);
  EXPECT_EQ(room.join(a->member), 1u);
  EXPECT_EQ(room.join(b->member), 2u);
  EXPECT_EQ(room.join(c->member), 3u);

  room.broadcast(a->member, frame_of("from a"));
  EXPECT_EQ(read_frame(b->client_end.get()), "from a");
  EXPECT_EQ(read_frame(c->client_end.get()), "from a");
  // Had a's frame gone back to a, it would be queued or sent before b's
  // (b sends only after receiving a's), so a's first frame shows it.
  room.broadcast(b->member, frame_of("from b"));
  EXPECT_EQ(read_frame(a->client_end.get()), "from b");
  EXPECT_EQ(read_frame(c->client_end.get()), "from b");

  room.leave(c->member);
  room.broadcast(a->member, frame_of("after c left"));
  EXPECT_EQ(read_frame(b->client_end.get()), "after c left");
  EXPECT_FALSE(room.leave(a->member));
  EXPECT_FALSE(room.leave(b->member));
  // Read after every leave(): the queue's writers count a delivery after
  // their send returns, and leave() joins them.
  EXPECT_EQ(t.stats.messages_delivered.load(), 5u);
}

void large_frames_arrive_whole(Broadcast strategy) {
  RoomUnderTest t(strategy);
  auto a = make_member(1), b = make_member(2);
  t.room->join(a->member);
  t.room->join(b->member);
  const std::string big(512 * 1024, 'q');  // far more than a socketpair buffers
  std::thread sender([&] { t.room->broadcast(a->member, frame_of(big)); });
  EXPECT_EQ(read_frame(b->client_end.get()), big);
  sender.join();
  t.room->leave(a->member);
  t.room->leave(b->member);
}

TEST(GlobalLockRoom, AFrameReachesEveryOtherMemberAndNeverItsSender) {
  frame_reaches_every_other_member_and_never_its_sender(Broadcast::global_lock);
}
TEST(SnapshotRoom, AFrameReachesEveryOtherMemberAndNeverItsSender) {
  frame_reaches_every_other_member_and_never_its_sender(Broadcast::snapshot);
}
TEST(QueueRoom, AFrameReachesEveryOtherMemberAndNeverItsSender) {
  frame_reaches_every_other_member_and_never_its_sender(Broadcast::queue);
}
TEST(GlobalLockRoom, LargeFramesArriveWhole) { large_frames_arrive_whole(Broadcast::global_lock); }
TEST(SnapshotRoom, LargeFramesArriveWhole) { large_frames_arrive_whole(Broadcast::snapshot); }
TEST(QueueRoom, LargeFramesArriveWhole) { large_frames_arrive_whole(Broadcast::queue); }

// --- queue ------------------------------------------------------------------------

TEST(QueueRoom, DropsAMemberThatNeverReadsAndKeepsDeliveringToTheOthers) {
  cs::StopSignal stop;
  ChatStats stats;
  const std::size_t frame_size = 16 * 1024;
  auto room = make_room(RoomOptions{Broadcast::queue, 1000, 8 * frame_size, 2000ms}, stop, stats);
  auto sender = make_member(1), reader = make_member(2), never_reads = make_member(3, 8192);
  room->join(sender->member);
  room->join(reader->member);
  room->join(never_reads->member);

  // The socketpair and the queue of the member that never reads hold a few
  // dozen frames; 200 overflow them. Each broadcast returns at once (it
  // only queues), and the reader reads each frame before the next is sent,
  // so only the member that never reads can overflow.
  for (int i = 0; i < 200; ++i) {
    room->broadcast(sender->member, frame_of_size(frame_size, static_cast<char>('a' + i % 26)));
    ASSERT_EQ(read_frame(reader->client_end.get()),
              std::string(frame_size, static_cast<char>('a' + i % 26)))
        << "frame " << i;
  }
  EXPECT_EQ(stats.clients_dropped.load(), 1u);
  // Its connection was shut down: what was in its socket can still be read,
  // then EOF.
  const auto drained = drain_until_closed(never_reads->client_end.get());
  ASSERT_TRUE(drained) << "the dropped member's connection was never closed";
  EXPECT_LT(*drained, 200 * (frame_size + 4));

  EXPECT_TRUE(room->leave(never_reads->member));
  EXPECT_FALSE(room->leave(reader->member));
  EXPECT_FALSE(room->leave(sender->member));
}

TEST(QueueRoom, ShutdownFlushesWhatIsQueuedThenEndsTheStream) {
  cs::StopSignal stop;
  ChatStats stats;
  auto room = make_room(RoomOptions{Broadcast::queue, 1000, 64u << 20, 10'000ms}, stop, stats);
  auto sender = make_member(1), late_reader = make_member(2, 8192);
  room->join(sender->member);
  room->join(late_reader->member);
  const std::size_t frames = 40, frame_size = 64 * 1024;  // far more than the socketpair holds
  for (std::size_t i = 0; i < frames; ++i) {
    room->broadcast(sender->member, frame_of_size(frame_size, static_cast<char>('A' + i % 26)));
  }
  stop.request_stop();
  room->leave(sender->member);

  std::size_t received = 0;
  bool whole = true;
  std::thread client([&] {
    while (const auto frame = read_frame(late_reader->client_end.get())) {
      whole = whole && *frame == std::string(frame_size, static_cast<char>('A' + received % 26));
      ++received;
    }
  });
  room->leave(late_reader->member);  // returns when its writer has flushed
  late_reader->server_end.reset();   // as the connection thread would: the client sees EOF
  client.join();
  EXPECT_EQ(received, frames);
  EXPECT_TRUE(whole);
  EXPECT_EQ(stats.messages_delivered.load(), frames);
}

TEST(QueueRoom, ShutdownGivesUpOnAMemberThatDoesNotReadWithinTheGracePeriod) {
  cs::StopSignal stop;
  ChatStats stats;
  auto room = make_room(RoomOptions{Broadcast::queue, 1000, 64u << 20, 100ms}, stop, stats);
  auto sender = make_member(1), never_reads = make_member(2, 8192);
  room->join(sender->member);
  room->join(never_reads->member);
  for (int i = 0; i < 40; ++i) room->broadcast(sender->member, frame_of_size(64 * 1024, 'z'));
  stop.request_stop();
  const auto start = Clock::now();
  room->leave(never_reads->member);  // must not wait for a reader that never comes
  EXPECT_LT(Clock::now() - start, patience);
  EXPECT_LT(stats.messages_delivered.load(), 40u);
  room->leave(sender->member);
}

}  // namespace
}  // namespace chat
