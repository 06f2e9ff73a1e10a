// The check of exercise part3-2 (refusing run_server, contract in
// refusing_server.hpp): with every worker busy and the queue full, the next
// client is accepted and refused at once with busy_message; clients that fit
// are served as before; once there is room, nobody is refused. Built twice,
// against the starting point and against solutions/; ctest requires the
// first to fail and the second to pass.
//
// The server runs in this process, on a listener on 127.0.0.1 port 0, and
// stops through its StopSignal. The order of events is fixed by the test:
// a client's greeting proves a worker took it; the kernel hands connections
// to accept() in the order their handshakes completed, so a client that
// connected earlier is accepted earlier. Every read has a deadline.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <span>
#include <string>
#include <thread>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <refusing_server.hpp>

#include "../tests/sync_testing.hpp"
#include "client_testing.hpp"
#include "cs/log.hpp"

namespace exercises {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The clients: connect_loopback, and reads with a deadline (3 s: the
// starting point, which never refuses, fails quickly).
using cs::testing::quickly;
using cs::testing::Reading;
using cs::testing::read_some;
using cs::testing::read_to_close;

// True if no byte (and no close) is waiting on `fd` right now.
bool nothing_arrived(int fd) {
  cs::Byte byte;
  return cs::recv_some(fd, std::span<cs::Byte>(&byte, 1)) < 0 && errno == EAGAIN;
}

class RefusingServer : public ::testing::Test {
 protected:
  void start(unsigned threads, std::size_t queue_capacity) {
    cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 16);
    port_ = cs::local_endpoint(listener.get()).port;
    options_.threads = threads;
    options_.shutdown_grace = 200ms;
    server_ = std::thread([this, queue_capacity, fd = std::move(listener)]() mutable {
      report_ = run_server(std::move(fd), options_, queue_capacity, stop_);
    });
  }

  // Stops the server and waits for run_server() to return.
  ServerReport stop_server() {
    stop_.request_stop();
    if (server_.joinable()) server_.join();
    return report_;
  }

  void TearDown() override { stop_server(); }

  cs::FileDescriptor connect_client() { return cs::testing::connect_loopback(port_); }

  // Connects and waits for the shift greeting: a worker is serving it.
  cs::FileDescriptor served_client() {
    cs::FileDescriptor fd = connect_client();
    EXPECT_EQ(read_some(fd.get(), 1).bytes, "*") << "a client that should be served got nothing";
    return fd;
  }

  cs::ServerOptions options_;
  cs::StopSignal stop_;
  std::uint16_t port_ = 0;
  std::thread server_;      // runs run_server(); joined by stop_server()
  ServerReport report_;     // written by server_, read after the join
};

TEST_F(RefusingServer, RefusesAtOnceWhenEveryWorkerIsBusyAndTheQueueIsFull) {
  start(1, 1);
  cs::FileDescriptor served = served_client();  // holds the one worker
  cs::FileDescriptor queued = connect_client();  // takes the one queue slot
  cs::FileDescriptor extra = connect_client();   // finds no room
  const Reading reading = read_to_close(extra.get());
  EXPECT_EQ(reading.bytes, std::string(busy_message))
      << "a client that found the server full should get busy_message at once";
  EXPECT_TRUE(reading.closed) << "a refused client should be closed after the busy message";
  EXPECT_TRUE(nothing_arrived(queued.get())) << "the queued client is waiting for the worker";

  served.reset();  // the worker takes the queued client: it is served, not refused
  EXPECT_EQ(read_some(queued.get(), 1).bytes, "*");
  queued.reset();
  const ServerReport report = stop_server();
  EXPECT_EQ(report.refused, 1u);
  EXPECT_EQ(report.served, 2u);
}

TEST_F(RefusingServer, RefusesEveryClientBeyondTheRoomNotOnlyTheFirst) {
  start(1, 1);
  cs::FileDescriptor served = served_client();
  cs::FileDescriptor queued = connect_client();
  for (int i = 0; i < 3; ++i) {
    cs::FileDescriptor extra = connect_client();
    ASSERT_EQ(read_to_close(extra.get()).bytes, std::string(busy_message)) << "extra client " << i;
  }
  served.reset();
  queued.reset();
  EXPECT_EQ(stop_server().refused, 3u);
}

TEST_F(RefusingServer, ServesAgainAsSoonAsThereIsRoom) {
  start(1, 1);
  cs::FileDescriptor first = served_client();
  cs::FileDescriptor second = connect_client();
  cs::FileDescriptor refused = connect_client();
  EXPECT_EQ(read_to_close(refused.get()).bytes, std::string(busy_message));

  first.reset();
  EXPECT_EQ(read_some(second.get(), 1).bytes, "*");  // the worker took it: the slot is free
  cs::FileDescriptor third = connect_client();       // fits in the queue again
  EXPECT_TRUE(nothing_arrived(third.get()));
  second.reset();
  EXPECT_EQ(read_some(third.get(), 1).bytes, "*") << "a client that fit in the queue got nothing";
  third.reset();
  const ServerReport report = stop_server();
  EXPECT_EQ(report.refused, 1u);
  EXPECT_EQ(report.served, 3u);
}

TEST_F(RefusingServer, NobodyIsRefusedWhileThereIsRoom) {
  start(2, 1);
  cs::FileDescriptor a = served_client();
  cs::FileDescriptor b = served_client();
  cs::FileDescriptor queued = connect_client();
  a.reset();
  EXPECT_EQ(read_some(queued.get(), 1).bytes, "*");
  b.reset();
  queued.reset();
  EXPECT_EQ(stop_server().refused, 0u);
}

}  // namespace
}  // namespace exercises
