// The check of exercise part4-1 (who owns a buffer while an operation is in
// flight; contract in shared_buffer_echo.hpp): a client on 127.0.0.1 that
// falls behind in reading must get back exactly the bytes it sent, and the
// sizes on_write_completed reports must add up to them. Built twice, against
// the starting point and against solutions/; ctest requires the first to
// fail and the second to pass.
//
// The server runs in this process on port 0. Every wait has a deadline, and
// a test that fails says at which byte the echo first went wrong.
#include <gtest/gtest.h>

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <shared_buffer_echo.hpp>

#include "client_testing.hpp"
#include "cs/socket.hpp"

namespace exercises {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto deadline = 10s;  // far above a healthy run; a stalled echo shows as this
// on_write_completed follows the last byte's arrival at once; a count that
// has not added up this long after it never will.
constexpr auto settle = 3s;

// Bytes that never repeat with a period of a buffer (4 KiB) or a read, so a
// chunk sent twice or out of place cannot match by chance.
std::vector<cs::Byte> pattern(std::size_t size) {
  std::vector<cs::Byte> bytes(size);
  std::uint32_t state = 2463534242u;
  for (auto& byte : bytes) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    byte = static_cast<cs::Byte>(state);
  }
  return bytes;
}

// A connected client whose receive buffer is small, so that a server
// writing to it soon has writes waiting.
cs::FileDescriptor connect_client(std::uint16_t port) {
  return cs::testing::connect_loopback(port, {.receive = 16 * 1024});
}

// Reads until `want` bytes came, the server closed, or the deadline.
std::vector<cs::Byte> read_back(int fd, std::size_t want) {
  std::vector<cs::Byte> got;
  const auto until = Clock::now() + deadline;
  std::vector<cs::Byte> chunk(64 * 1024);
  while (got.size() < want) {
    if (cs::wait_for(fd, POLLIN, -1, until) != cs::WaitResult::ready) break;
    const ssize_t n = cs::recv_some(fd, chunk);
    if (n <= 0) break;
    got.insert(got.end(), chunk.begin(), chunk.begin() + n);
  }
  return got;
}

// "" if `got` is `sent`, else where and how they first differ.
std::string compare(const std::vector<cs::Byte>& sent, const std::vector<cs::Byte>& got) {
  for (std::size_t i = 0; i < sent.size() && i < got.size(); ++i) {
    if (sent[i] != got[i]) {
      return "the echo differs from what was sent at byte " + std::to_string(i) + " of " +
             std::to_string(sent.size()) +
             ": a buffer was cleared and refilled by a read while a write still owned it";
    }
  }
  if (got.size() != sent.size()) {
    return "only " + std::to_string(got.size()) + " of " + std::to_string(sent.size()) +
           " bytes came back within " + std::to_string(deadline.count()) + " s";
  }
  return "";
}

// Waits until the server's on_write_completed calls add up to `total`.
void expect_echoed(const SharedBufferEcho& server, std::uint64_t total) {
  const auto until = Clock::now() + settle;
  while (server.bytes_echoed() < total && Clock::now() < until) std::this_thread::yield();
  EXPECT_EQ(server.bytes_echoed(), total)
      << "on_write_completed reported other sizes than were sent: the buffers it got back had "
         "been changed while their writes were in flight";
}

class SharedBuffer : public ::testing::Test {
 protected:
  void SetUp() override {
    cpf::ServerOptions options;
    options.threads = 2;
    server_ = std::make_unique<SharedBufferEcho>(options);
    server_->start();
  }
  void TearDown() override { server_->stop(); }

  std::unique_ptr<SharedBufferEcho> server_;
};

// One message at a time, each read back before the next is sent: the
// server's write of a message is in flight (in the kernel, or just done)
// when its next read is issued.
TEST_F(SharedBuffer, MessagesEchoedOneAtATime) {
  cs::FileDescriptor client = connect_client(server_->local_port());
  const std::vector<cs::Byte> all = pattern(200 * 100);
  std::uint64_t total = 0;
  for (std::size_t offset = 0; offset < all.size(); offset += 100) {
    const std::vector<cs::Byte> message(all.begin() + offset, all.begin() + offset + 100);
    ASSERT_TRUE(cs::send_all(client.get(), message));
    const std::string difference = compare(message, read_back(client.get(), message.size()));
    ASSERT_EQ(difference, "") << "message " << offset / 100;
    total += message.size();
  }
  expect_echoed(*server_, total);
}

// Sixteen megabytes sent before the client reads any: the client's receive
// buffer and then the server's send buffer in the kernel (which Linux lets
// grow to 4 MiB) fill, the server's writes wait in the connection's queue,
// and its reads go on (up to the output limit) while they wait.
TEST_F(SharedBuffer, EverythingComesBackWhenTheClientFallsBehind) {
  cs::FileDescriptor client = connect_client(server_->local_port());
  const std::vector<cs::Byte> sent = pattern(16 * 1024 * 1024);
  bool all_sent = false;
  std::thread sender([&] { all_sent = cs::send_all(client.get(), sent); });
  // Not reading until writes are queued makes the test independent of how
  // fast this machine is: from here on the server has several writes
  // waiting behind one the kernel cannot take yet.
  constexpr std::size_t several = 64 * 1024;
  const auto until = Clock::now() + deadline;
  while (server_->counters().bytes_queued < several && Clock::now() < until) {
    std::this_thread::yield();
  }
  const bool queued = server_->counters().bytes_queued >= several;
  const std::vector<cs::Byte> got = read_back(client.get(), sent.size());
  // A stalled echo can leave the sender blocked in send(): shutting the
  // socket down returns it (with an error) so the test can end.
  if (got.size() < sent.size()) ::shutdown(client.get(), SHUT_RDWR);
  sender.join();
  ASSERT_TRUE(queued) << "the server never had writes waiting; the test could not judge";
  EXPECT_EQ(compare(sent, got), "");
  EXPECT_TRUE(all_sent) << "the server stopped reading before the client had sent everything";
  expect_echoed(*server_, sent.size());
}

}  // namespace
}  // namespace exercises
