// Unit tests of StopTokenBridge: a StopSignal's stop reaches the
// std::stop_token (and so wakes a condition_variable_any wait), and a bridge
// destroyed without a stop ends its watcher without stopping the token.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <stop_token>

#include "stop_token_bridge.hpp"
#include "sync_testing.hpp"

namespace part3 {
namespace {

using testing::Gate;
using testing::patience;

TEST(StopTokenBridge, AStopSignalStopsTheToken) {
  cs::StopSignal stop;
  StopTokenBridge bridge(stop);
  Gate stopped;
  std::stop_callback on_stop(bridge.token(), [&stopped] { stopped.open(); });
  EXPECT_FALSE(bridge.token().stop_requested());
  stop.request_stop();
  ASSERT_TRUE(stopped.wait_for()) << "the token never saw the StopSignal's stop";
  EXPECT_TRUE(bridge.token().stop_requested());
}

TEST(StopTokenBridge, AStopRequestedBeforeTheBridgeExistsStillReachesTheToken) {
  cs::StopSignal stop;
  stop.request_stop();
  StopTokenBridge bridge(stop);
  Gate stopped;
  std::stop_callback on_stop(bridge.token(), [&stopped] { stopped.open(); });
  EXPECT_TRUE(stopped.wait_for());
}

TEST(StopTokenBridge, WakesAConditionVariableWaitThatNothingElseWouldEnd) {
  cs::StopSignal stop;
  StopTokenBridge bridge(stop);
  std::mutex mutex;
  std::condition_variable_any never_notified;
  Gate waiting;
  Gate returned;
  std::jthread waiter([&] {
    std::unique_lock lock(mutex);
    waiting.open();
    never_notified.wait(lock, bridge.token(), [] { return false; });
    returned.open();
  });
  ASSERT_TRUE(waiting.wait_for());
  EXPECT_FALSE(returned.is_open());
  stop.request_stop();  // as the SIGTERM handler does
  EXPECT_TRUE(returned.wait_for(patience));
}

TEST(StopTokenBridge, DestroyedWithoutAStopLeavesTheTokenUnstopped) {
  cs::StopSignal stop;
  std::stop_token token;
  {
    StopTokenBridge bridge(stop);
    token = bridge.token();
  }  // joins the watcher: returning at all is half of this test
  EXPECT_FALSE(token.stop_requested());
  EXPECT_FALSE(stop.stop_requested());
}

}  // namespace
}  // namespace part3
