// The check of exercise part4-2 (an edge-triggered epoll loop; contract in
// edge_triggered_server.hpp): real clients on 127.0.0.1 against
// serve_edge_triggered() on a thread of this process. Each test names the
// report the loop missed when it fails. Built twice, against the starting
// point and against solutions/; ctest requires the first to fail and the
// second to pass.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
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
constexpr int small_buffer = 64 * 1024;

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
  explicit Client(std::uint16_t port, int buffers = 0)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (buffers > 0) {
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &buffers, sizeof buffers);
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUF, &buffers, sizeof buffers);
    }
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
  void shut_down_sending() { ::shutdown(fd_.get(), SHUT_WR); }

  bool send(const std::string& bytes) {
    return cs::send_all(fd_.get(), cs::as_bytes(bytes));
  }

  // Exactly `size` bytes, or fewer if the server closes first or nothing
  // arrives for reply_deadline (the wait restarts with every byte), or
  // `deadline` passes.
  std::string receive(std::size_t size, std::size_t chunk = 64 * 1024,
                      Clock::time_point deadline = Clock::time_point::max()) {
    std::string got;
    std::vector<char> buffer(chunk);
    while (got.size() < size) {
      deadline = std::min(deadline, Clock::now() + reply_deadline);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) break;
      pollfd ready{fd_.get(), POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(fd_.get(), buffer.data(), std::min(chunk, size - got.size()), 0);
      if (n <= 0) break;
      got.append(buffer.data(), static_cast<std::size_t>(n));
      deadline = Clock::time_point::max();  // progress: the wait starts again
    }
    return got;
  }

  // Sends as much of `bytes` as the kernel takes without blocking, retrying
  // until it has taken nothing more for `quiet` (the server stopped
  // reading) or everything. Returns how many bytes it took.
  std::size_t send_until_blocked(const std::string& bytes, std::chrono::milliseconds quiet) {
    std::size_t taken = 0;
    auto last_progress = Clock::now();
    while (taken < bytes.size() && Clock::now() - last_progress < quiet) {
      const ssize_t n = ::send(fd_.get(), bytes.data() + taken, bytes.size() - taken,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        taken += static_cast<std::size_t>(n);
        last_progress = Clock::now();
      } else {
        pollfd writable{fd_.get(), POLLOUT, 0};
        ::poll(&writable, 1, 10);
      }
    }
    return taken;
  }

  // Small kernel buffers on both ends (set before connecting, so the
  // window is small from the start): what the server holds is then most of
  // what the connection holds.
  static Client with_small_buffers(std::uint16_t port) { return Client(port, small_buffer); }

 private:
  cs::FileDescriptor fd_;
  bool connected_ = false;
};

class EdgeTriggered : public ::testing::Test {
 protected:
  void SetUp() override {
    cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 128);
    // Accepted sockets inherit these; only the output-limit test needs
    // them small, and they slow no other test down.
    ::setsockopt(listener.get(), SOL_SOCKET, SO_RCVBUF, &small_buffer, sizeof small_buffer);
    ::setsockopt(listener.get(), SOL_SOCKET, SO_SNDBUF, &small_buffer, sizeof small_buffer);
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

TEST_F(EdgeTriggered, StopsReadingAClientThatDoesNotReadItsReplies) {
  // 16 MiB offered by a client that reads nothing: past output_limit of
  // unsent replies the server must stop reading, so the kernel stops
  // taking the client's bytes once the buffers in between are full. Those
  // are small here (64 KiB asked, twice that granted, at each of four
  // places), so a loop that pauses lets about 1 MiB in; one that reads on
  // would take all 16 MiB and hold their replies.
  start_server();
  Client client = Client::with_small_buffers(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_EQ(client.receive(1), "*") << "no greeting: " << stalled;
  const std::string payload = payload_of(16 << 20);
  const std::size_t taken = client.send_until_blocked(message(payload), 500ms);
  EXPECT_LT(taken, std::size_t{4} << 20)
      << "the server took " << taken << " bytes from a client that read none of its replies: "
      << "it must stop reading past output_limit (receive: the pause)";
  // Then the client reads, and every payload byte it sent is answered
  // (the leading '^' has no reply of its own).
  ASSERT_GT(taken, 1u);
  const std::size_t answered = std::min(taken - 1, payload.size());
  const std::string reply = client.receive(answered, 64 * 1024);
  EXPECT_EQ(reply.size(), answered) << stalled << " (the resume on EPOLLOUT)";
  EXPECT_TRUE(reply == shifted(payload.substr(0, answered)));
}

TEST_F(EdgeTriggered, AnswersTheLastMessageOfAClientThatHalfCloses) {
  start_server();
  Client client = greeted_client();
  ASSERT_TRUE(client.send(message("bye")));
  client.shut_down_sending();
  EXPECT_EQ(client.receive(3), "czf") << "the replies before the client's FIN were lost";
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
