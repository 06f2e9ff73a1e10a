// The check of exercise part4-1 (a per-address connection limit, contract
// in address_limited_server.hpp): with a limit of 2, a third client from
// the same address is closed without its greeting; a client from another
// address is served; once a served client leaves, its address may connect
// again. Built twice, against the starting point and against solutions/;
// ctest requires the first to fail and the second to pass.
//
// The server runs in this process on 127.0.0.1, port 0, with the shift
// protocol: its greeting '*' proves a connection was served. Clients bind
// to 127.0.0.1 or 127.0.0.2 (both loopback on Linux) to come from two
// addresses. Every read has a deadline.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <address_limited_server.hpp>

#include "cs/socket.hpp"

namespace exercises {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto quickly = 3s;  // for bytes (or a close) that should come at once

struct Reading {
  std::string bytes;
  bool closed = false;  // EOF or reset
};

// Reads until `want` bytes arrived, the server closed, or `timeout` passed.
Reading read_some(int fd, std::size_t want, std::chrono::milliseconds timeout = quickly) {
  Reading reading;
  const auto deadline = Clock::now() + timeout;
  cs::Byte buffer[256];
  while (reading.bytes.size() < want) {
    if (cs::wait_for(fd, POLLIN, -1, deadline) != cs::WaitResult::ready) break;
    const ssize_t n = cs::recv_some(fd, buffer);
    if (n > 0) {
      reading.bytes.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      reading.closed = true;
      break;
    }
  }
  return reading;
}

class AddressLimit : public ::testing::Test {
 protected:
  static constexpr std::size_t limit = 2;

  void SetUp() override {
    cpf::ServerOptions options;
    options.threads = 2;
    server_ = std::make_unique<AddressLimitedServer>(options, cs::Protocol::shift, limit);
    server_->start();
  }

  void TearDown() override { server_->stop(); }

  // Connects from `from` (a loopback address) to the server.
  cs::FileDescriptor connect_from(const char* from) {
    cs::FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, from, &local.sin_addr);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local), 0)
        << std::strerror(errno);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(server_->local_port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0)
        << std::strerror(errno);
    return fd;
  }

  // Connects and waits for the greeting: the server is serving it.
  cs::FileDescriptor served_client(const char* from = "127.0.0.1") {
    cs::FileDescriptor fd = connect_from(from);
    EXPECT_EQ(read_some(fd.get(), 1).bytes, "*") << "a client within the limit got no greeting";
    return fd;
  }

  // Waits until the server has seen `n` connections close (counted when the
  // framework's last notification of a connection ran, which is where a
  // slot is given back). Polls: a close is an absence, not an event here.
  void wait_for_closed(std::uint64_t n) {
    const auto deadline = Clock::now() + quickly;
    while (server_->stats().connections.load() + server_->refused() < n &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
  }

  std::unique_ptr<AddressLimitedServer> server_;
};

TEST_F(AddressLimit, AClientOverTheLimitIsClosedWithoutAGreeting) {
  cs::FileDescriptor first = served_client();
  cs::FileDescriptor second = served_client();
  cs::FileDescriptor third = connect_from("127.0.0.1");
  const Reading reading = read_some(third.get(), 1);
  EXPECT_EQ(reading.bytes, "") << "the third client from one address must not be served";
  EXPECT_TRUE(reading.closed) << "the third client from one address must be closed at once";
  EXPECT_EQ(server_->refused(), 1u);
}

TEST_F(AddressLimit, ServedClientsAreServedNormally) {
  cs::FileDescriptor first = served_client();
  cs::FileDescriptor second = served_client();
  ASSERT_TRUE(cs::send_all(second.get(), cs::as_bytes("^abc$")));
  EXPECT_EQ(read_some(second.get(), 3).bytes, "bcd");
  EXPECT_EQ(server_->refused(), 0u);
}

TEST_F(AddressLimit, AnotherAddressIsNotLimited) {
  cs::FileDescriptor first = served_client("127.0.0.1");
  cs::FileDescriptor second = served_client("127.0.0.1");
  cs::FileDescriptor other = served_client("127.0.0.2");
  cs::FileDescriptor other_again = served_client("127.0.0.2");
  EXPECT_EQ(server_->refused(), 0u);
}

TEST_F(AddressLimit, AnAddressMayConnectAgainWhenOneOfItsClientsLeaves) {
  cs::FileDescriptor first = served_client();
  cs::FileDescriptor second = served_client();
  first.reset();
  wait_for_closed(1);
  cs::FileDescriptor third = served_client();
  EXPECT_EQ(server_->refused(), 0u);
}

TEST_F(AddressLimit, ARefusedClientDoesNotUseUpASlot) {
  cs::FileDescriptor first = served_client();
  cs::FileDescriptor second = served_client();
  for (int i = 0; i < 3; ++i) {
    cs::FileDescriptor extra = connect_from("127.0.0.1");
    ASSERT_TRUE(read_some(extra.get(), 1).closed) << "extra client " << i;
  }
  second.reset();
  wait_for_closed(4);  // the three refused and the one that left
  cs::FileDescriptor again = served_client();
  EXPECT_EQ(server_->refused(), 3u);
}

}  // namespace
}  // namespace exercises
