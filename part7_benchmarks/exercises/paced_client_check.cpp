// The check of exercise part7-2 (measure_latencies, contract in
// paced_client.hpp): against a one-byte echo server on a thread of this
// process that stalls once for 200 ms, 1,000 requests due every
// 2 ms must show the stall in their 99th percentile, and a server
// that never stalls must not. Built twice, against the starting point and
// against solutions/; ctest requires the first to fail and the second to
// pass.
//
// The limits are far from both outcomes: a stall of 200 ms delays the
// requests due during it by up to 200 ms, so about 50 of 1,000 samples
// measured right are above 100 ms, and the 99th percentile is well above
// it; measured from the send, one sample is.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <paced_client.hpp>

#include "client_testing.hpp"
#include "cs/socket.hpp"

namespace exercises {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t requests = 1000;
constexpr auto interval = 2ms;  // room for a slow round trip under the sanitizers

// Echoes one byte at a time; before answering request number `stall_at`
// (counting from 0; none if it is never reached) it sleeps `stall`.
void one_byte_echo(cs::FileDescriptor client, std::size_t stall_at, std::chrono::milliseconds stall) {
  char byte = 0;
  for (std::size_t n = 0; ::recv(client.get(), &byte, 1, 0) == 1; ++n) {
    if (n == stall_at) std::this_thread::sleep_for(stall);
    if (::send(client.get(), &byte, 1, MSG_NOSIGNAL) != 1) return;
  }
}

Latencies run_against(std::size_t stall_at) {
  cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 4);
  cs::FileDescriptor client = cs::testing::connect_loopback(cs::local_endpoint(listener.get()).port);
  cs::set_nodelay(client.get());  // one byte per request: no Nagle in this check
  cs::Accepted accepted = cs::accept_client(listener.get());
  cs::set_nodelay(accepted.fd.get());
  std::thread server(one_byte_echo, std::move(accepted.fd), stall_at, 200ms);
  Latencies latencies = measure_latencies(client.get(), requests, interval);
  client.reset();
  server.join();
  return latencies;
}

double percentile(std::vector<double> ms, double p) {
  std::sort(ms.begin(), ms.end());
  return ms[static_cast<std::size_t>(p * static_cast<double>(ms.size() - 1))];
}

TEST(MeasureLatencies, AnswersEveryRequest) {
  const Latencies latencies = run_against(500);
  EXPECT_EQ(latencies.ms.size(), requests);
  EXPECT_GT(latencies.sent_late, 50u) << "the 200 ms stall should have made ~100 requests late";
}

TEST(MeasureLatencies, AStallOf200msShowsInThe99thPercentile) {
  const Latencies latencies = run_against(500);
  ASSERT_EQ(latencies.ms.size(), requests);
  const double p99 = percentile(latencies.ms, 0.99);
  EXPECT_GT(p99, 100.0) << "99th percentile " << p99 << " ms although the server stalled for "
                        << "200 ms and " << latencies.sent_late
                        << " requests went out late: measured from the send, the time they "
                           "waited to be sent is omitted; count from when each was due";
}

TEST(MeasureLatencies, AServerThatNeverStallsHasALowMedian) {
  const Latencies latencies = run_against(requests + 1);  // never
  ASSERT_EQ(latencies.ms.size(), requests);
  EXPECT_LT(percentile(latencies.ms, 0.5), 50.0);
}

}  // namespace
}  // namespace exercises
