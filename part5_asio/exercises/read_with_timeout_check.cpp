// Check of exercise part5-2: async_read_some_with_timeout
// (read_with_timeout.hpp). Run: ./run exercise part5-2
#include <gtest/gtest.h>

#include <read_with_timeout.hpp>

#include <array>
#include <chrono>
#include <optional>

namespace {

using namespace std::chrono_literals;

// A connected pair of sockets on one io_context, run by the test's thread.
struct Pair {
  asio::io_context io;
  tcp::socket near{io};
  tcp::socket far{io};
  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    near.connect(acceptor.local_endpoint());
    acceptor.accept(far);
  }
};

struct Outcome {
  int calls = 0;
  boost::system::error_code error;
  std::size_t bytes = 0;
};

// Runs until no work is left (or 5 s pass, if some operation leaks).
void run(Pair& pair) { pair.io.run_for(5s); }

TEST(ReadWithTimeout, BytesThatArriveInTimeAreRead) {
  Pair pair;
  asio::write(pair.far, asio::buffer("hi", 2));
  std::array<char, 16> buffer{};
  Outcome outcome;
  part5ex::async_read_some_with_timeout(pair.near, asio::buffer(buffer), 2000ms,
                                        [&](const boost::system::error_code& error, std::size_t n) {
                                          ++outcome.calls;
                                          outcome.error = error;
                                          outcome.bytes = n;
                                        });
  run(pair);
  EXPECT_EQ(outcome.calls, 1);
  EXPECT_FALSE(outcome.error) << outcome.error.message();
  EXPECT_EQ(outcome.bytes, 2u);
  EXPECT_TRUE(pair.io.stopped())
      << "after the read completed, the timer still kept the io_context busy: cancel it";
}

TEST(ReadWithTimeout, ASilentPeerIsATimeout) {
  Pair pair;
  std::array<char, 16> buffer{};
  Outcome outcome;
  part5ex::async_read_some_with_timeout(pair.near, asio::buffer(buffer), 200ms,
                                        [&](const boost::system::error_code& error, std::size_t n) {
                                          ++outcome.calls;
                                          outcome.error = error;
                                          outcome.bytes = n;
                                        });
  run(pair);
  EXPECT_EQ(outcome.calls, 1) << "done must be called exactly once, also on a timeout";
  EXPECT_EQ(outcome.error, asio::error::timed_out) << outcome.error.message();
  EXPECT_EQ(outcome.bytes, 0u);
  EXPECT_TRUE(pair.io.stopped()) << "after the timeout, the read was still pending: cancel it";
}

TEST(ReadWithTimeout, AfterATimeoutTheSocketIsStillUsable) {
  Pair pair;
  std::array<char, 16> buffer{};
  std::optional<boost::system::error_code> first;
  part5ex::async_read_some_with_timeout(
      pair.near, asio::buffer(buffer), 100ms,
      [&](const boost::system::error_code& error, std::size_t) { first = error; });
  run(pair);
  ASSERT_EQ(first, asio::error::timed_out);
  // The timed-out read consumed nothing: the next one gets every byte.
  asio::write(pair.far, asio::buffer("late", 4));
  pair.io.restart();
  std::size_t bytes = 0;
  part5ex::async_read_some_with_timeout(
      pair.near, asio::buffer(buffer), 2000ms,
      [&](const boost::system::error_code&, std::size_t n) { bytes = n; });
  run(pair);
  EXPECT_EQ(bytes, 4u);
}

TEST(ReadWithTimeout, APeerThatClosesIsEof) {
  Pair pair;
  pair.far.close();
  std::array<char, 16> buffer{};
  Outcome outcome;
  part5ex::async_read_some_with_timeout(pair.near, asio::buffer(buffer), 2000ms,
                                        [&](const boost::system::error_code& error, std::size_t n) {
                                          ++outcome.calls;
                                          outcome.error = error;
                                          outcome.bytes = n;
                                        });
  run(pair);
  EXPECT_EQ(outcome.calls, 1);
  EXPECT_EQ(outcome.error, asio::error::eof) << outcome.error.message();
  EXPECT_TRUE(pair.io.stopped());
}

}  // namespace
