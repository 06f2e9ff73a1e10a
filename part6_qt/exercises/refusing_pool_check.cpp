// The check of exercise part6-2 (run_refusing_pool_server, contract in
// refusing_pool.hpp): while a pool thread is free, a client is served; with
// every pool thread busy, the next client gets busy_message and is closed at
// once, and so is every one after it; once a thread is free, a new client is
// served again. Built twice, against the starting point and against
// solutions/; ctest requires the first to fail and the second to pass. Each
// test names one part of the contract, so the starting point's failures say
// what is still missing.
#include <utility>

// Angle brackets: see limited_server_check.cpp.
#include <refusing_pool.hpp>

#include "check_support.hpp"

namespace exercises {
namespace {

class RefusingPool : public ServerCheck<PoolReport> {
 protected:
  void start(unsigned threads) {
    options_.threads = threads;
    start_server([](cs::FileDescriptor listener, const cs::ServerOptions& options,
                    const cs::StopSignal& stop) {
      return run_refusing_pool_server(std::move(listener), options, stop);
    });
  }
};

TEST_F(RefusingPool, RefusesNobodyWhileAThreadIsFree) {
  start(2);
  cs::FileDescriptor first = greeted_client(port_);
  cs::FileDescriptor second = greeted_client(port_);
  EXPECT_TRUE(first) << "the first client was not greeted";
  EXPECT_TRUE(second) << "the second client, with the second thread free, was not greeted";
  first.reset();
  second.reset();
  const PoolReport report = stop_server();
  EXPECT_EQ(report.refused, 0u) << "nobody should be refused while a thread is free";
  EXPECT_EQ(report.submitted, 2u) << "both clients are handed to the pool";
}

TEST_F(RefusingPool, AnswersBusyAtOnceWhenEveryThreadIsBusy) {
  start(1);
  cs::FileDescriptor first = greeted_client(port_);
  ASSERT_TRUE(first) << "the first client was not greeted";
  const Reading reading = refused_client();
  EXPECT_EQ(reading.bytes, std::string(busy_message))
      << "a client that found every pool thread busy should get busy_message at once, "
         "not wait in the pool's queue";
  EXPECT_TRUE(reading.closed) << "a refused client should be closed after the busy message";
}

TEST_F(RefusingPool, RefusesEveryClientWhileTheThreadIsBusyAndCountsThem) {
  start(1);
  cs::FileDescriptor first = greeted_client(port_);
  ASSERT_TRUE(first) << "the first client was not greeted";
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(refused_client().bytes, std::string(busy_message))
        << "extra client " << i + 1 << " did not get busy_message at once";
  }
  first.reset();
  const PoolReport report = stop_server();
  EXPECT_EQ(report.refused, 3u) << "every refused client is counted in report.refused";
  EXPECT_EQ(report.submitted, 1u) << "a refused client is not counted as submitted";
}

TEST_F(RefusingPool, ServesAgainWhenAThreadFrees) {
  start(1);
  cs::FileDescriptor first = greeted_client(port_);
  ASSERT_TRUE(first) << "the first client was not greeted";
  EXPECT_EQ(refused_client().bytes, std::string(busy_message))
      << "a client that found every pool thread busy should get busy_message at once";
  first.reset();
  // greeted_client retries: the thread is free only once its connection has
  // read the FIN and finished; a client that connects before is refused.
  EXPECT_TRUE(greeted_client(port_)) << "after the first client left, nobody was served";
  const PoolReport report = stop_server();
  EXPECT_GE(report.refused, 1u) << "the refused client is counted in report.refused";
  EXPECT_EQ(report.submitted, 2u) << "only the two clients that got a thread count as submitted";
}

}  // namespace
}  // namespace exercises
