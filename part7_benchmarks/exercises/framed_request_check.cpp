// The check of exercise part7-1 (send_request, contract in
// framed_request.hpp): requests sent with it to an echo server on a thread
// of this process, over 127.0.0.1 with Nagle on at both ends, are answered
// right, and in far less than the delayed-ACK timer's 40 ms. Built twice,
// against the starting point and against solutions/; ctest requires the
// first to fail and the second to pass.
//
// A time limit in a test, for once: the two outcomes differ by a factor of
// a hundred (under 0.5 ms against 40 ms or more), so the limit, 20 ms for
// the median, is half the smallest stall and far above a loaded machine's
// round trip: a slow machine is very unlikely to miss it.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <framed_request.hpp>

#include "cs/frame_codec.hpp"
#include "cs/socket.hpp"

namespace exercises {
namespace {

using Clock = std::chrono::steady_clock;

// Reads exactly buffer.size() bytes (blocking); false at EOF or error.
bool read_exactly(int fd, std::span<cs::Byte> buffer) {
  std::size_t got = 0;
  while (got < buffer.size()) {
    const ssize_t n = ::recv(fd, buffer.data() + got, buffer.size() - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// Answers each frame with the frame of its payload plus one per byte, in
// one write (a server that is not itself to blame), until the client
// leaves.
void echo_frames(cs::FileDescriptor client) {
  std::array<cs::Byte, 4> header{};
  cs::Bytes body;
  while (read_exactly(client.get(), header)) {
    body.resize(cs::read_frame_length(header));
    if (!read_exactly(client.get(), body)) return;
    for (auto& byte : body) byte = static_cast<cs::Byte>(byte + 1);
    cs::Bytes reply;
    cs::append_frame(body, reply);
    if (!cs::send_all(client.get(), reply)) return;
  }
}

struct RoundTrips {
  std::vector<double> ms;  // each request's round trip, sorted
  bool replies_right = true;
  bool nodelay_left_off = true;
  double median() const { return ms.empty() ? 0 : ms[ms.size() / 2]; }
};

RoundTrips measure(std::size_t payload_size, int requests) {
  cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 4);
  const std::uint16_t port = cs::local_endpoint(listener.get()).port;
  cs::FileDescriptor client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  RoundTrips result;
  // A deadline on every read of the test's own socket: a request that
  // never completes fails the test instead of hanging it.
  const timeval five_seconds{5, 0};
  ::setsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  if (::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ADD_FAILURE() << "connect failed";
    return result;
  }
  cs::Accepted accepted = cs::accept_client(listener.get());
  std::thread server(echo_frames, std::move(accepted.fd));

  cs::Bytes payload(payload_size);
  cs::Bytes reply(4 + payload_size);
  for (int i = 0; i < requests; ++i) {
    for (std::size_t k = 0; k < payload.size(); ++k) payload[k] = static_cast<cs::Byte>('a' + (i + k) % 26);
    const auto start = Clock::now();
    if (!send_request(client.get(), payload) || !read_exactly(client.get(), reply)) {
      result.replies_right = false;
      break;
    }
    result.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    cs::Bytes expected;
    cs::Bytes shifted = payload;
    for (auto& byte : shifted) byte = static_cast<cs::Byte>(byte + 1);
    cs::append_frame(shifted, expected);
    if (reply != expected) result.replies_right = false;
  }
  int nodelay = 0;
  socklen_t length = sizeof nodelay;
  ::getsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &length);
  result.nodelay_left_off = nodelay == 0;
  client.reset();  // the server's read sees EOF
  server.join();
  std::sort(result.ms.begin(), result.ms.end());
  return result;
}

TEST(SendRequest, SendsFramesTheServerAnswersRight) {
  const RoundTrips small = measure(64, 5);
  EXPECT_TRUE(small.replies_right);
  const RoundTrips large = measure(200 * 1024, 3);
  EXPECT_TRUE(large.replies_right);
}

TEST(SendRequest, LeavesTcpNodelayOff) {
  EXPECT_TRUE(measure(64, 3).nodelay_left_off)
      << "send_request turned TCP_NODELAY on: that hides the stall, the exercise removes it";
}

TEST(SendRequest, ASmallRequestIsAnsweredInUnder20msAtTheMedian) {
  const RoundTrips trips = measure(64, 30);
  ASSERT_TRUE(trips.replies_right);
  EXPECT_LT(trips.median(), 20.0)
      << "median round trip " << trips.median()
      << " ms: the body waited for the ACK of the header (Nagle), which the server delays "
         "(delayed ACK); send each request in one write";
}

TEST(SendRequest, A16KiBRequestIsAnsweredInUnder20msAtTheMedian) {
  // Still smaller than a loopback segment (64 KiB), so Nagle holds it the
  // same way when it follows the header in a write of its own.
  const RoundTrips trips = measure(16 * 1024, 30);
  ASSERT_TRUE(trips.replies_right);
  EXPECT_LT(trips.median(), 20.0)
      << "median round trip " << trips.median() << " ms for 16 KiB requests";
}

}  // namespace
}  // namespace exercises
