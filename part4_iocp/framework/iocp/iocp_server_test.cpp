// Tests of the IOCP backend through the cpf::Server interface, with Winsock
// clients on 127.0.0.1 (the framework's own server_test.cpp uses POSIX
// sockets, so on Windows these cover the backend): an echo round trip,
// several clients at once (the pre-posted accepts), half-close, pause and
// resume of accepting, a stop that aborts an idle client and leaves no
// connection or buffer behind, the output limit, deadlines and the idle
// clock.
#include <winsock2.h>
#include <ws2tcpip.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../tests/counters_testing.hpp"
#include "cpf/server.hpp"

namespace {

constexpr DWORD client_timeout_ms = 10'000;  // every blocking client call fails after this

// Winsock for the test clients (the server starts its own).
class WinsockEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    WSADATA data{};
    ASSERT_EQ(::WSAStartup(MAKEWORD(2, 2), &data), 0);
  }
  void TearDown() override { ::WSACleanup(); }
};
const auto* const winsock = ::testing::AddGlobalTestEnvironment(new WinsockEnvironment);

// Echoes every read back, then reads on; counts what it saw.
class EchoServer final : public cpf::Server {
 public:
  explicit EchoServer(cpf::ServerOptions options) : Server(std::move(options)) {}
  ~EchoServer() override { stop(); }

  std::atomic<int> established{0};
  std::atomic<int> closed{0};
  std::atomic<int> client_closed{0};
  std::atomic<int> idle{0};
  std::atomic<int> deadlines{0};
  // Set before start(): each connection gets a deadline this far ahead.
  std::chrono::milliseconds deadline_after{0};

 protected:
  void on_connection_established(cpf::Connection& connection) override {
    ++established;
    if (deadline_after.count() > 0) connection.set_deadline(std::chrono::steady_clock::now() + deadline_after);
    connection.read();
  }
  void on_idle_timeout(cpf::Connection& connection) override {
    ++idle;
    Server::on_idle_timeout(connection);  // close
  }
  void on_deadline(cpf::Connection& connection) override {
    ++deadlines;
    Server::on_deadline(connection);  // close
  }
  void on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override {
    connection.write(std::move(buffer));
    connection.read();
  }
  void on_client_closed(cpf::Connection& connection) override {
    ++client_closed;
    connection.close();
  }
  void on_connection_closed(cpf::Connection&) override { ++closed; }
};

// A blocking Winsock client with timeouts.
class Client {
 public:
  explicit Client(std::uint16_t port, int receive_buffer = 0)
      : socket_(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) {
    if (socket_ == INVALID_SOCKET) throw std::runtime_error("socket failed");
    if (receive_buffer > 0) {
      ::setsockopt(socket_, SOL_SOCKET, SO_RCVBUF, reinterpret_cast<const char*>(&receive_buffer),
                   sizeof receive_buffer);
    }
    const DWORD timeout = client_timeout_ms;
    ::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&timeout), sizeof timeout);
    ::setsockopt(socket_, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&timeout), sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(socket_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect failed: " + std::to_string(::WSAGetLastError()));
    }
  }
  ~Client() { ::closesocket(socket_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(const std::string& data) {
    ASSERT_EQ(::send(socket_, data.data(), static_cast<int>(data.size()), 0), static_cast<int>(data.size()));
  }
  // Reads exactly n bytes (or fewer if the connection ends or times out).
  std::string receive(std::size_t n) {
    std::string data;
    char chunk[65536];
    while (data.size() < n) {
      const int got = ::recv(socket_, chunk, static_cast<int>(std::min(sizeof chunk, n - data.size())), 0);
      if (got <= 0) break;
      data.append(chunk, static_cast<std::size_t>(got));
    }
    return data;
  }
  // 0 at EOF, SOCKET_ERROR on a reset or timeout, else the byte count.
  int receive_some() {
    char chunk[64];
    return ::recv(socket_, chunk, sizeof chunk, 0);
  }
  void shutdown_send() { ::shutdown(socket_, SD_SEND); }
  // True if nothing arrives within `ms` (the receive times out).
  bool nothing_arrives_within(DWORD ms) {
    ::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&ms), sizeof ms);
    char byte = 0;
    const int got = ::recv(socket_, &byte, 1, MSG_PEEK);
    const bool timed_out = got == SOCKET_ERROR && ::WSAGetLastError() == WSAETIMEDOUT;
    const DWORD normal = client_timeout_ms;
    ::setsockopt(socket_, SOL_SOCKET, SO_RCVTIMEO, reinterpret_cast<const char*>(&normal), sizeof normal);
    return timed_out;
  }

 private:
  SOCKET socket_;
};

cpf::ServerOptions test_options() {
  cpf::ServerOptions options;
  options.threads = 2;
  options.buffer_size = 64;  // small, so a message spans several buffers
  return options;
}

TEST(IocpServer, EchoesInOrderAcrossBuffers) {
  EchoServer server(test_options());
  server.start();
  Client client(server.local_port());
  std::string message;
  for (int i = 0; i < 2000; ++i) message += static_cast<char>('a' + i % 26);
  client.send(message);
  EXPECT_EQ(client.receive(message.size()), message);
}

TEST(IocpServer, ServesMoreClientsThanAcceptsArePosted) {
  EchoServer server(test_options());
  server.start();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 12; ++i) clients.push_back(std::make_unique<Client>(server.local_port()));
  for (int i = 0; i < 12; ++i) clients[i]->send("client " + std::to_string(i));
  for (int i = 0; i < 12; ++i) {
    const std::string expected = "client " + std::to_string(i);
    EXPECT_EQ(clients[i]->receive(expected.size()), expected);
  }
  EXPECT_EQ(server.counters().connections_accepted, 12u);
}

TEST(IocpServer, HalfCloseGetsTheRepliesThenEof) {
  EchoServer server(test_options());
  server.start();
  Client client(server.local_port());
  client.send("last words");
  client.shutdown_send();
  EXPECT_EQ(client.receive(10), "last words");
  EXPECT_EQ(client.receive_some(), 0) << "EOF after the replies";
  server.stop(std::chrono::milliseconds{2000});
  EXPECT_EQ(server.client_closed.load(), 1);
  EXPECT_EQ(server.closed.load(), 1);
}

TEST(IocpServer, NoClientIsAcceptedWhilePaused) {
  EchoServer server(test_options());
  server.start();
  server.pause_accepting();
  EXPECT_FALSE(server.counters().accepting);
  Client client(server.local_port());  // completes in the kernel's backlog
  client.send("waiting");
  // The client is served only after resume; its bytes wait meanwhile.
  EXPECT_TRUE(client.nothing_arrives_within(300)) << "a client was served while paused";
  EXPECT_EQ(server.established.load(), 0);
  server.resume_accepting();
  EXPECT_EQ(client.receive(7), "waiting");
  EXPECT_EQ(server.established.load(), 1);
}

TEST(IocpServer, StopAbortsAnIdleClientAndLeavesNothingBehind) {
  EchoServer server(test_options());
  server.start();
  Client client(server.local_port());
  client.send("x");
  ASSERT_EQ(client.receive(1), "x");  // established, with a read pending
  server.stop(std::chrono::milliseconds{100});
  EXPECT_LE(client.receive_some(), 0) << "the client sees the connection end (reset)";
  const cpf::Counters counters = server.counters();
  EXPECT_EQ(counters.active_connections, 0u);
  EXPECT_EQ(counters.buffers_in_use, 0u);
  EXPECT_EQ(server.closed.load(), 1);
}

// A read waiting for bytes holds no buffer (a zero-byte WSARecv), so
// silent clients cost no receive memory; the bytes, once they come, arrive
// in a buffer of the allocator's that goes back to the pool after the echo.
TEST(IocpServer, AnIdleConnectionHoldsNoBuffer) {
  EchoServer server(test_options());
  server.start();
  constexpr int count = 8;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < count; ++i) clients.push_back(std::make_unique<Client>(server.local_port()));
  // After its echo each connection has its next read outstanding.
  for (auto& client : clients) client->send("ping");
  for (auto& client : clients) ASSERT_EQ(client->receive(4), "ping");
  // The echoes' buffers go back as their sends complete: wait for that,
  // with a deadline. A posted receive that held a buffer would keep the
  // count at `count` for ever.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.counters().buffers_in_use != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(server.counters().buffers_in_use, 0u) << "an outstanding read holds a buffer";
  // And they still read: a second round trip on every connection.
  for (auto& client : clients) client->send("pong");
  for (auto& client : clients) EXPECT_EQ(client->receive(4), "pong");
}

// The output limit (cpf/server.hpp): a client that sends without reading
// makes the echo queue up; past the limit the framework stops reading it,
// so the queue stays bounded, and everything arrives in order once the
// client reads.
TEST(IocpServer, OutputLimitHoldsReadsBackUntilTheClientReads) {
  cpf::ServerOptions options = test_options();
  options.buffer_size = 4096;
  options.output_limit = 64 * 1024;
  EchoServer server(options);
  server.start();
  Client client(server.local_port(), 4096);

  constexpr std::size_t total = 32 << 20;  // far more than the limit and the socket buffers
  std::string payload(total, '\0');
  for (std::size_t i = 0; i < total; ++i) payload[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);

  std::atomic<std::size_t> sent{0};
  std::thread sender([&] {
    for (std::size_t at = 0; at < total; at += 65536) {
      client.send(payload.substr(at, 65536));
      sent = std::min(total, at + 65536);
    }
  });
  part4::testing::PeakCounters peaks(server);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(client_timeout_ms);
  while (!(server.counters().read_pauses >= 1 && sent >= 8 * options.output_limit) && sent < total &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE(server.counters().read_pauses, 1u) << "the server never held its reads back";

  const std::string echoed = client.receive(total);
  sender.join();
  peaks.stop();
  EXPECT_TRUE(echoed == payload) << "the echo arrived torn or out of order (" << echoed.size() << " bytes)";
  EXPECT_LE(peaks.most_queued(), options.output_limit + options.buffer_size);
  EXPECT_LE(peaks.most_buffers(), options.output_limit / options.buffer_size + 4);
}

TEST(IocpServer, APassedDeadlineClosesTheConnection) {
  cpf::ServerOptions options = test_options();
  options.shortest_deadline = std::chrono::milliseconds(50);
  EchoServer server(options);
  server.deadline_after = std::chrono::milliseconds(50);
  server.start();
  Client client(server.local_port());
  EXPECT_EQ(client.receive_some(), 0) << "the deadline's default close is graceful (EOF)";
  server.stop(std::chrono::milliseconds{2000});
  EXPECT_EQ(server.deadlines.load(), 1);
  EXPECT_EQ(server.idle.load(), 0);
  EXPECT_EQ(server.closed.load(), 1);
}

// The idle clock restarts with every byte received or sent.
TEST(IocpServer, TricklingBytesKeepAConnectionFromBeingIdle) {
  cpf::ServerOptions options = test_options();
  options.idle_timeout = std::chrono::milliseconds(150);
  EchoServer server(options);
  server.start();
  Client client(server.local_port());
  for (int i = 0; i < 12; ++i) {  // 12 x 40 ms: more than three idle timeouts
    client.send("x");
    EXPECT_EQ(client.receive(1), "x");
    std::this_thread::sleep_for(std::chrono::milliseconds(40));  // the trickle's pace
  }
  EXPECT_EQ(server.idle.load(), 0) << "a client trickling a byte every 40 ms was idle";
  EXPECT_EQ(client.receive_some(), 0) << "silent now: the idle timeout closes it";
  EXPECT_EQ(server.idle.load(), 1);
}

TEST(IocpServer, PostRunsOnAnIoThread) {
  EchoServer server(test_options());
  server.start();
  std::atomic<bool> ran{false};
  server.post([&] { ran = true; });
  server.stop();  // tasks queued before stop() run before it returns
  EXPECT_TRUE(ran.load());
}

TEST(IocpServer, AnAddressInUseIsASetupError) {
  EchoServer first(test_options());
  first.start();
  cpf::ServerOptions options = test_options();
  options.port = first.local_port();
  EchoServer second(options);
  EXPECT_THROW(second.start(), std::runtime_error);
}

}  // namespace
