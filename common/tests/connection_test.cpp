// BlockingConnection: idle timeout, the shutdown grace period, EOF and
// errors, each ending the connection with the right reason.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "client_testing.hpp"
#include "cs/connection.hpp"

namespace cs {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Pair {
  FileDescriptor server;
  FileDescriptor client;
};

Pair socket_pair() {
  int ends[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
  return {FileDescriptor(ends[0]), FileDescriptor(ends[1])};
}

// A connected TCP pair on 127.0.0.1 (TCP_INFO needs a TCP socket).
Pair tcp_pair() {
  FileDescriptor listener = listen_tcp("127.0.0.1", 0, 1);
  FileDescriptor client = cs::testing::connect_loopback(local_endpoint(listener.get()).port);
  Accepted accepted = accept_client(listener.get());
  EXPECT_EQ(accepted.kind, Accepted::Kind::client);
  return {std::move(accepted.fd), std::move(client)};
}

TEST(BlockingConnection, ReceivesWhatWasSentThenEof) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {});
  ASSERT_TRUE(send_all(client.get(), as_bytes("abc")));
  Byte buffer[16];
  const auto got = connection.receive(buffer);
  ASSERT_TRUE(got);
  EXPECT_EQ(std::string(got->begin(), got->end()), "abc");
  client.reset();
  EXPECT_FALSE(connection.receive(buffer));
  EXPECT_EQ(connection.end(), ConnectionEnd::peer_closed);
  EXPECT_EQ(connection.end_description(), "client closed");
  EXPECT_EQ(connection.bytes_received(), 3u);
}

TEST(BlockingConnection, IdleTimeoutEndsASilentConnection) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {100ms, 2000ms});
  Byte buffer[16];
  const auto start = Clock::now();
  EXPECT_FALSE(connection.receive(buffer));
  EXPECT_GE(Clock::now() - start, 100ms);
  EXPECT_EQ(connection.end(), ConnectionEnd::idle_timeout);
  EXPECT_EQ(connection.end_description(), "idle for 100 ms");
}

TEST(BlockingConnection, IdleTimeoutAlsoEndsASendNobodyReads) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {100ms, 2000ms});
  const Bytes big(8 * 1024 * 1024, 'x');  // more than the socket buffers hold
  EXPECT_FALSE(connection.send(big));
  EXPECT_EQ(connection.end(), ConnectionEnd::idle_timeout);
  EXPECT_GT(connection.bytes_sent(), 0u);
  EXPECT_LT(connection.bytes_sent(), big.size());
}

// The chat room writes to a member's socket from other threads: those
// bytes are traffic too, and the connection waiting in receive() learns of
// them from the kernel, so a client that only listens is not idle.
TEST(BlockingConnection, BytesAnotherThreadSendsKeepTheConnectionFromBeingIdle) {
  auto [server, client] = tcp_pair();
  const int server_fd = server.get();
  StopSignal stop;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {200ms, 2000ms});
  std::atomic<bool> writing{true};
  Clock::time_point last_sent;  // read after join()
  const auto start = Clock::now();
  // Six times the idle timeout of deliveries, 50 ms apart, then silence.
  std::thread writer([&] {
    while (Clock::now() - start < 1200ms) {
      ASSERT_TRUE(send_all(server_fd, as_bytes("delivery")));
      last_sent = Clock::now();
      std::this_thread::sleep_for(50ms);
    }
    writing = false;
  });
  Byte buffer[16];
  EXPECT_FALSE(connection.receive(buffer));
  const auto ended = Clock::now();
  writer.join();
  EXPECT_FALSE(writing.load()) << "closed as idle while another thread was sending";
  // Idle counts from the last delivery (the kernel's clock of it is in
  // milliseconds, ticking at the timer's rate: a few ms of slack).
  EXPECT_GE(ended - last_sent, 200ms - 10ms);
  EXPECT_EQ(connection.end(), ConnectionEnd::idle_timeout);
}

TEST(BlockingConnection, StopGivesAGracePeriodThenEnds) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {0ms, 150ms});
  stop.request_stop();
  // Within the grace period the connection is still served.
  ASSERT_TRUE(send_all(client.get(), as_bytes("late request")));
  Byte buffer[64];
  ASSERT_TRUE(connection.receive(buffer));
  ASSERT_TRUE(connection.send(as_bytes("late reply")));
  // Then a silent client is cut off when the grace period ends.
  const auto start = Clock::now();
  EXPECT_FALSE(connection.receive(buffer));
  EXPECT_EQ(connection.end(), ConnectionEnd::shutdown);
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_EQ(connection.end_description(), "shutdown grace period over");
}

TEST(BlockingConnection, StopWakesABlockedReceive) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {0ms, 0ms});
  std::thread stopper([&] { stop.request_stop(); });
  Byte buffer[16];
  EXPECT_FALSE(connection.receive(buffer));  // no idle timeout: only the stop ends this
  EXPECT_EQ(connection.end(), ConnectionEnd::shutdown);
  stopper.join();
}

TEST(BlockingConnection, ResetIsAnErrorWithItsReason) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {});
  client.reset();
  EXPECT_FALSE(connection.send(Bytes(1 << 20, 'x')));
  EXPECT_EQ(connection.end(), ConnectionEnd::error);
  EXPECT_EQ(connection.end_description(), std::strerror(EPIPE));
}

}  // namespace
}  // namespace cs

namespace cs {
namespace {

TEST(BlockingConnection, GraceDeadlineCountsFromTheStopNotFromWhenItIsNoticed) {
  // A connection that first waits long after the stop (say, one a thread pool
  // starts late) gets only what is left of the grace period, so a server
  // stops within one grace period however many connections it has.
  auto [server, client] = socket_pair();
  StopSignal stop;
  stop.request_stop();
  std::this_thread::sleep_until(stop.stop_time() + 200ms);  // time must pass; no event to wait for
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, {0ms, 200ms});
  Byte buffer[16];
  const auto start = Clock::now();
  EXPECT_FALSE(connection.receive(buffer));
  EXPECT_EQ(connection.end(), ConnectionEnd::shutdown);
  EXPECT_LT(Clock::now() - start, 100ms) << "the grace period had already run out";
}

TEST(BlockingConnection, RequestDeadlineEndsAReceiveEvenWithoutAnIdleTimeout) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  ConnectionPolicy policy;
  policy.request_timeout = 100ms;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, policy);
  Byte buffer[16];
  const auto start = Clock::now();
  connection.set_request_deadline(start + 100ms);
  EXPECT_FALSE(connection.receive(buffer));
  EXPECT_GE(Clock::now() - start, 100ms);
  EXPECT_EQ(connection.end(), ConnectionEnd::request_timeout);
  EXPECT_EQ(connection.end_description(), "request not complete after 100 ms");
}

TEST(BlockingConnection, ClearedRequestDeadlineNoLongerApplies) {
  auto [server, client] = socket_pair();
  StopSignal stop;
  ConnectionPolicy policy;
  policy.idle_timeout = 300ms;
  policy.request_timeout = 50ms;
  BlockingConnection connection(std::move(server), {"peer", 1}, stop, policy);
  connection.set_request_deadline(Clock::now() + 50ms);
  connection.set_request_deadline(std::nullopt);  // the request completed
  Byte buffer[16];
  const auto start = Clock::now();
  EXPECT_FALSE(connection.receive(buffer));
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_EQ(connection.end(), ConnectionEnd::idle_timeout);
}

}  // namespace
}  // namespace cs
