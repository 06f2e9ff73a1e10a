// Check of exercise part5-3: ReplyQueue (reply_queue.hpp) keeps one write in
// flight, proved by the bytes on the wire. A server socket with a small
// send buffer and a client with a small receive buffer make every large
// reply take many pieces, so two writes in flight interleave. Run:
// ./run exercise part5-3
#include <gtest/gtest.h>

#include <reply_queue.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr int small_buffer = 64 * 1024;

// A connected pair: `server` on the io_context (run by the test on its own
// thread), `client` a blocking socket the test reads from.
struct Pair {
  asio::io_context io;
  tcp::socket server{io};
  asio::io_context client_io;
  tcp::socket client{client_io};
  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.open(tcp::v4());
    client.set_option(asio::socket_base::receive_buffer_size(small_buffer));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    server.set_option(asio::socket_base::send_buffer_size(small_buffer));
  }
};

// `count` replies of `size` bytes, reply k filled with the byte 'A' + k % 26.
std::vector<cs::Bytes> replies(int count, std::size_t size) {
  std::vector<cs::Bytes> all;
  for (int k = 0; k < count; ++k) all.emplace_back(size, static_cast<cs::Byte>('A' + k % 26));
  return all;
}

// Queues every reply in one handler (so all are queued before any write
// completes), runs the io_context on a thread, reads everything on this
// one, and says where the stream first differs from the replies in order.
std::string send_and_compare(const std::vector<cs::Bytes>& all) {
  Pair pair;
  auto queue = std::make_shared<part5ex::ReplyQueue>(pair.server);
  asio::post(pair.io, [queue, &all] {
    for (const auto& reply : all) queue->queue(reply);
  });
  // Once no write is left, the server's end closes: if the queue stopped
  // writing early, the client's read ends at EOF instead of waiting forever.
  std::thread runner([&] {
    pair.io.run_for(20s);
    pair.server.close();
  });
  cs::Bytes expected;
  for (const auto& reply : all) expected.insert(expected.end(), reply.begin(), reply.end());
  cs::Bytes received(expected.size());
  boost::system::error_code error;
  const std::size_t got = asio::read(pair.client, asio::buffer(received), error);
  queue.reset();
  runner.join();
  if (got != expected.size()) {
    return "only " + std::to_string(got) + " of " + std::to_string(expected.size()) +
           " bytes arrived (" + error.message() + ")";
  }
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (received[i] != expected[i]) {
      const std::size_t size = all.front().size();
      return "byte " + std::to_string(i) + " (reply " + std::to_string(i / size) + ", offset " +
             std::to_string(i % size) + ") is '" + std::string(1, static_cast<char>(received[i])) +
             "', from another reply: two writes were in flight and their pieces interleaved";
    }
  }
  return "";
}

TEST(ReplyQueue, SmallRepliesArriveInOrder) {
  EXPECT_EQ(send_and_compare(replies(20, 100)), "");
}

TEST(ReplyQueue, TwoLargeRepliesArriveWholeAndInOrder) {
  EXPECT_EQ(send_and_compare(replies(2, 1 << 20)), "");
}

TEST(ReplyQueue, EightLargeRepliesArriveWholeAndInOrder) {
  EXPECT_EQ(send_and_compare(replies(8, 1 << 20)), "");
}

TEST(ReplyQueue, ManyMediumRepliesArriveWholeAndInOrder) {
  EXPECT_EQ(send_and_compare(replies(64, 100 * 1024)), "");
}

TEST(ReplyQueue, UnsentCountsDownToZero) {
  Pair pair;
  auto queue = std::make_shared<part5ex::ReplyQueue>(pair.server);
  asio::post(pair.io, [queue] {
    for (const auto& reply : replies(4, 256 * 1024)) queue->queue(reply);
  });
  std::thread runner([&] {
    pair.io.run_for(20s);
    pair.server.close();  // as above: EOF for the client if writing stopped early
  });
  cs::Bytes received(4 * 256 * 1024);
  boost::system::error_code error;
  asio::read(pair.client, asio::buffer(received), error);
  runner.join();  // every write completed: nothing is left to run
  EXPECT_EQ(queue->unsent(), 0u);
  EXPECT_FALSE(queue->failed());
}

TEST(ReplyQueue, AFailedSocketFailsTheQueue) {
  Pair pair;
  pair.client.close();  // the peer is gone: a large write meets a reset
  auto queue = std::make_shared<part5ex::ReplyQueue>(pair.server);
  asio::post(pair.io, [queue] {
    for (const auto& reply : replies(4, 1 << 20)) queue->queue(reply);
  });
  pair.io.run_for(5s);
  EXPECT_TRUE(queue->failed());
  EXPECT_EQ(queue->unsent(), 0u) << "after a failure nothing is left to send";
  EXPECT_TRUE(pair.io.stopped()) << "a write was still pending 5 s after the peer closed";
}

}  // namespace
