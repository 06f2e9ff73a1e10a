// The check of exercise part4-3 (an edge-triggered epoll loop; contract in
// edge_triggered_server.hpp): real clients on 127.0.0.1 against
// serve_edge_triggered() on a thread of this process. Each test names the
// report the loop missed when it fails. Built twice, against the starting
// point and against solutions/; ctest requires the first to fail and the
// second to pass.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <vector>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <edge_triggered_server.hpp>

#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace exercises {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Longer than any healthy run needs by far; a stalled loop shows as this.
constexpr auto reply_deadline = 5s;

const char* const stalled =
    "no reply within 5 s: the loop left bytes (or connections) in the kernel that no new "
    "report will announce; with EPOLLET, drain until EAGAIN";

std::string shifted(const std::string& payload) {
  std::string reply = payload;
  for (char& c : reply) c = static_cast<char>(static_cast<unsigned char>(c) + 1);
  return reply;
}

std::string message(const std::string& payload) { return "^" + payload + "$"; }

// `size` bytes of printable payload that is neither '^' nor '$'.
std::string payload_of(std::size_t size, char first = 'a') {
  std::string payload(size, ' ');
  for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(first + i % 20);
  return payload;
}

class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ && ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address),
                                  sizeof address) == 0;
  }
  bool connected() const { return connected_; }

  // Ends both directions at once: a sender blocked on a stalled server
  // returns (with an error) instead of holding the test.
  void shut_down() { ::shutdown(fd_.get(), SHUT_RDWR); }

  bool send(const std::string& bytes) {
    return cs::send_all(fd_.get(), cs::as_bytes(bytes));
  }

  // Exactly `size` bytes, or fewer if the deadline passes or the server
  // closes first.
  std::string receive(std::size_t size, std::size_t chunk = 64 * 1024,
                      Clock::time_point deadline = Clock::now() + reply_deadline) {
    std::string got;
    std::vector<char> buffer(chunk);
    while (got.size() < size) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) break;
      pollfd ready{fd_.get(), POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(fd_.get(), buffer.data(), std::min(chunk, size - got.size()), 0);
      if (n <= 0) break;
      got.append(buffer.data(), static_cast<std::size_t>(n));
    }
    return got;
  }

 private:
  cs::FileDescriptor fd_;
  bool connected_ = false;
};

class EdgeTriggered : public ::testing::Test {
 protected:
  void SetUp() override {
    cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 128);
    port_ = cs::local_endpoint(listener.get()).port;
    listener_ = std::move(listener);
  }

  void start_server() {
    server_ = std::thread([this] {
      try {
        serve_edge_triggered(std::move(listener_), stop_);
      } catch (...) {
        failure_ = std::current_exception();
      }
    });
  }

  void TearDown() override {
    stop_.request_stop();
    if (server_.joinable()) server_.join();
    if (failure_) {
      try {
        std::rethrow_exception(failure_);
      } catch (const std::exception& error) {
        ADD_FAILURE() << "serve_edge_triggered threw: " << error.what();
      }
    }
  }

  // A connected client that has read the greeting.
  Client greeted_client() {
    Client client(port_);
    EXPECT_TRUE(client.connected());
    EXPECT_EQ(client.receive(1), "*") << "no greeting: " << stalled;
    return client;
  }

  std::uint16_t port_ = 0;
  cs::FileDescriptor listener_;
  cs::StopSignal stop_;
  std::thread server_;
  std::exception_ptr failure_;
};

TEST_F(EdgeTriggered, AnswersOneShortMessage) {
  start_server();
  Client client = greeted_client();
  ASSERT_TRUE(client.send(message("abc")));
  EXPECT_EQ(client.receive(3), "bcd");
}

TEST_F(EdgeTriggered, AnswersAMessageLongerThanOneRead) {
  start_server();
  Client client = greeted_client();
  const std::string payload = payload_of(16 * read_chunk);
  ASSERT_TRUE(client.send(message(payload)));
  const std::string reply = client.receive(payload.size());
  EXPECT_EQ(reply.size(), payload.size()) << stalled << " (receive: one recv() per report)";
  EXPECT_TRUE(reply == shifted(payload)) << "the reply's bytes are not the message's plus one";
}

TEST_F(EdgeTriggered, AnswersManyMessagesThatArriveTogether) {
  start_server();
  Client client = greeted_client();
  std::string burst;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    const std::string payload = payload_of(60, static_cast<char>('a' + i % 5));
    burst += message(payload);
    expected += shifted(payload);
  }
  ASSERT_GT(burst.size(), 2 * read_chunk);
  ASSERT_TRUE(client.send(burst));
  const std::string reply = client.receive(expected.size());
  EXPECT_EQ(reply.size(), expected.size()) << stalled << " (receive: one recv() per report)";
  EXPECT_TRUE(reply == expected) << "the replies are not the messages' bytes plus one";
}

TEST_F(EdgeTriggered, GreetsEveryClientThatQueuedBeforeTheLoopStarted) {
  // Connected before the loop exists: the kernel completes each handshake
  // and queues the connection. The loop's first epoll_wait() reports the
  // listener once, for all of them.
  std::vector<Client> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back(port_);
    ASSERT_TRUE(clients.back().connected());
  }
  start_server();
  int greeted = 0;
  const auto deadline = Clock::now() + reply_deadline;  // one wait for all
  for (Client& client : clients) greeted += client.receive(1, 1, deadline) == "*" ? 1 : 0;
  EXPECT_EQ(greeted, 8) << stalled << " (accept_clients: one accept() per report)";
}

TEST_F(EdgeTriggered, GreetsClientsThatArriveWhileItServes) {
  start_server();
  Client first = greeted_client();
  Client second = greeted_client();
  ASSERT_TRUE(first.send(message("x")));
  ASSERT_TRUE(second.send(message("y")));
  EXPECT_EQ(first.receive(1), "y");
  EXPECT_EQ(second.receive(1), "z");
}

TEST_F(EdgeTriggered, SendsEveryReplyToAClientThatSendsMoreThanItReads) {
  // 4 MiB in, 4 MiB of replies out, read in small pieces while the sender
  // runs: the loop must stop reading while output_limit of replies wait,
  // and resume when the client drains them (an EPOLLOUT report).
  start_server();
  Client client = greeted_client();
  const std::string payload = payload_of(4 << 20);
  bool sent = false;
  std::thread sender([&] { sent = client.send(message(payload)); });
  const std::string reply = client.receive(payload.size(), 4096);
  client.shut_down();
  sender.join();
  EXPECT_TRUE(sent);
  EXPECT_EQ(reply.size(), payload.size()) << stalled << " (receive, or its pause and resume)";
  EXPECT_TRUE(reply == shifted(payload)) << "the reply's bytes are not the message's plus one";
}

TEST_F(EdgeTriggered, ServesTheOthersAfterAClientLeaves) {
  start_server();
  {
    Client leaving = greeted_client();
    ASSERT_TRUE(leaving.send("^unfinished"));
  }  // closed mid-message
  Client staying = greeted_client();
  ASSERT_TRUE(staying.send(message("ok")));
  EXPECT_EQ(staying.receive(2), "pl");
}

}  // namespace
}  // namespace exercises
