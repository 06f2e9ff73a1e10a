// The check of exercise part6-1 (run_limited_server, contract in
// limited_server.hpp): up to max_clients clients are served; the next one is
// closed at once without a greeting, and so is every one after it while the
// server is full; a refused client does not take or free a slot; once a
// served client leaves, a new client is served again. Built twice, against
// the starting point and against solutions/; ctest requires the first to
// fail and the second to pass. Each test names one part of the contract, so
// the starting point's failures say what is still missing.
#include <utility>

// Angle brackets: a quoted include would find the starting point's header
// next to this file even in the solution build.
#include <limited_server.hpp>

#include "check_support.hpp"

namespace exercises {
namespace {

class LimitedServer : public ServerCheck<LimitedReport> {
 protected:
  void start(unsigned max_clients) {
    start_server([max_clients](cs::FileDescriptor listener, const cs::ServerOptions& options,
                               const cs::StopSignal& stop) {
      return run_limited_server(std::move(listener), options, max_clients, stop);
    });
  }
};

TEST_F(LimitedServer, ServesEveryClientUpToTheLimit) {
  start(2);
  cs::FileDescriptor first = greeted_client(port_);
  cs::FileDescriptor second = greeted_client(port_);
  EXPECT_TRUE(first) << "the first client was not greeted";
  EXPECT_TRUE(second) << "the second client of two allowed was not greeted";
}

TEST_F(LimitedServer, ClosesTheClientBeyondTheLimitAtOnceWithoutAGreeting) {
  start(1);
  cs::FileDescriptor first = greeted_client(port_);
  ASSERT_TRUE(first) << "the first client was not greeted";
  const Reading reading = refused_client();
  EXPECT_EQ(reading.bytes, "") << "the client beyond the limit was greeted";
  EXPECT_TRUE(reading.closed) << "the client beyond the limit was not closed at once";
}

TEST_F(LimitedServer, RefusesEveryClientWhileFullAndARefusalFreesNoSlot) {
  start(1);
  cs::FileDescriptor first = greeted_client(port_);
  ASSERT_TRUE(first) << "the first client was not greeted";
  // A refusal that gave back a slot it never took (a decrement of the
  // active count on the refusal path) would let the second or third in.
  for (int i = 0; i < 3; ++i) {
    const Reading reading = refused_client();
    ASSERT_EQ(reading.bytes, "") << "client " << i + 2 << " of a server limited to 1 was greeted";
    ASSERT_TRUE(reading.closed) << "client " << i + 2 << " was not closed at once";
  }
  first.reset();
  const LimitedReport report = stop_server();
  EXPECT_EQ(report.refused, 3u) << "every refused client is counted in report.refused";
  EXPECT_EQ(report.served, 1u) << "a refused client is not counted as served";
}

TEST_F(LimitedServer, ServesAgainWhenAServedClientLeaves) {
  start(1);
  cs::FileDescriptor first = greeted_client(port_);
  ASSERT_TRUE(first) << "the first client was not greeted";
  EXPECT_EQ(refused_client().bytes, "") << "the client beyond the limit was greeted";
  first.reset();
  // greeted_client retries: the server learns of the departure only when it
  // reads the FIN, and a client that connects before that is refused.
  EXPECT_TRUE(greeted_client(port_)) << "after the first client left, nobody was served";
  const LimitedReport report = stop_server();
  EXPECT_GE(report.refused, 1u) << "the client beyond the limit is counted in report.refused";
  EXPECT_EQ(report.served, 2u) << "only the two clients that were greeted count as served";
}

}  // namespace
}  // namespace exercises
