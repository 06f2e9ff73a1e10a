// The check of exercise part2-1 (run_pthread_server with --max-clients,
// contract in pthread_limited_server.hpp). It runs the server in this
// process, on an ephemeral loopback port, and drives it with real clients:
// clients beyond the limit wait unanswered until a slot frees and are then
// served in order; a stop ends the wait for a slot. Built twice, against the
// starting point and against solutions/; ctest requires the first to fail
// and the second to pass.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

// Angle brackets, not quotes: a quoted include would find the starting
// point's header next to this file even in the solution build.
#include <pthread_limited_server.hpp>

namespace exercises {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long a test waits for something that must happen.
constexpr auto deadline = 10s;
// How long a test watches for something that must not happen (a greeting to
// a client the server must not have accepted). An absence has no event to
// wait for: a correct server passes however long this is; the window only
// has to be long enough for a broken one to show itself.
constexpr auto absence_window = 300ms;
// Short, so that stopping the server at the end of each test is quick.
constexpr auto grace = 200ms;

// The server under test, on its own thread. Everything it uses lives on the
// heap, shared with that thread: if a broken server never returns, the test
// can report it and leave the thread behind without anything dangling.
class TestServer {
 public:
  explicit TestServer(unsigned max_clients, std::chrono::milliseconds shutdown_grace = grace)
      : state_(std::make_shared<State>()) {
    state_->options.max_clients = max_clients;
    state_->options.shutdown_grace = shutdown_grace;
    cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 64);
    port_ = cs::local_endpoint(listener.get()).port;
    returned_ = state_->returned.get_future();
    thread_ = std::thread([state = state_, listener = std::move(listener)]() mutable {
      try {
        run_pthread_server(std::move(listener), state->options, state->stop);
      } catch (const std::exception& error) {
        ADD_FAILURE() << "run_pthread_server threw: " << error.what();
      }
      state->returned.set_value();
    });
  }

  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  ~TestServer() {
    if (thread_.joinable()) stop_and_wait(deadline);
  }

  std::uint16_t port() const { return port_; }

  void request_stop() { state_->stop.request_stop(); }

  // Requests the stop and waits up to `limit` for run_pthread_server to
  // return. True if it did.
  bool stop_and_wait(std::chrono::milliseconds limit) {
    request_stop();
    if (returned_.wait_for(limit) == std::future_status::ready) {
      thread_.join();
      return true;
    }
    ADD_FAILURE() << "run_pthread_server did not return within " << limit.count()
                  << " ms of the stop request";
    thread_.detach();  // it owns its state; the process exit ends it
    return false;
  }

 private:
  struct State {
    cs::ServerOptions options;
    cs::StopSignal stop;
    std::promise<void> returned;
  };
  std::shared_ptr<State> state_;
  std::uint16_t port_ = 0;
  std::future<void> returned_;
  std::thread thread_;
};

// A blocking client of the shift protocol.
class TestClient {
 public:
  explicit TestClient(std::uint16_t port) {
    fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    // Returns once the kernel has completed the handshake, whether or not
    // the server has accepted the connection: that is the backlog.
    const bool connected =
        ::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    EXPECT_TRUE(connected) << "connect: " << std::strerror(errno);
  }

  // Everything that arrives within `window`, up to `count` bytes; stops
  // early once `count` bytes came or the connection ended. A zero window
  // still looks once at what has already arrived.
  std::string receive(std::size_t count, std::chrono::milliseconds window) {
    std::string got;
    const auto end = Clock::now() + window;
    while (got.size() < count) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now());
      pollfd watched{fd_.get(), POLLIN, 0};
      if (::poll(&watched, 1, static_cast<int>(std::max<long long>(left.count(), 0))) <= 0) {
        if (left.count() <= 0) break;
        continue;  // EINTR, or poll woke a little early: look again
      }
      char buffer[256];
      const ssize_t n = ::recv(fd_.get(), buffer, std::min(sizeof buffer, count - got.size()),
                               MSG_DONTWAIT);
      if (n <= 0) break;  // EOF or reset: the connection is over
      got.append(buffer, static_cast<std::size_t>(n));
    }
    return got;
  }

  // The greeting, if it comes within `window`.
  std::string greeting(std::chrono::milliseconds window = deadline) { return receive(1, window); }

  void send(const std::string& data) {
    ASSERT_EQ(::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }

  // Sends one shift request and returns its reply (as many bytes as expected).
  std::string exchange(const std::string& request, std::size_t reply_length) {
    send(request);
    return receive(reply_length, deadline);
  }

  // Waits for the server to end the connection (EOF or reset).
  bool ended(std::chrono::milliseconds window = deadline) {
    pollfd watched{fd_.get(), POLLIN, 0};
    if (::poll(&watched, 1, static_cast<int>(window.count())) <= 0) return false;
    char byte;
    return ::recv(fd_.get(), &byte, 1, MSG_DONTWAIT) <= 0;
  }

  void close() { fd_.reset(); }

 private:
  cs::FileDescriptor fd_;
};

TEST(PthreadLimitedServer, WithoutALimitServesEveryClientAtOnce) {
  TestServer server(0);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(std::make_unique<TestClient>(server.port()));
  for (auto& client : clients) EXPECT_EQ(client->greeting(), "*");
  for (auto& client : clients) EXPECT_EQ(client->exchange("^abc$", 3), "bcd");
  EXPECT_TRUE(server.stop_and_wait(deadline));
}

TEST(PthreadLimitedServer, ServesAsManyClientsAsTheLimitAtOnce) {
  TestServer server(3);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<TestClient>(server.port()));
  for (auto& client : clients) EXPECT_EQ(client->greeting(), "*");
  for (auto& client : clients) EXPECT_EQ(client->exchange("^abc$de^abte$f", 7), "bcdbcuf");
  EXPECT_TRUE(server.stop_and_wait(deadline));
}

TEST(PthreadLimitedServer, AnExtraClientWaitsUntilASlotFrees) {
  TestServer server(2);
  TestClient first(server.port());
  TestClient second(server.port());
  ASSERT_EQ(first.greeting(), "*");
  ASSERT_EQ(second.greeting(), "*");

  // Two idle clients hold both slots: the third is connected (the kernel
  // queued it) but must not be served...
  TestClient third(server.port());
  ASSERT_EQ(third.greeting(absence_window), "")
      << "the third client was greeted while two clients held both slots (limit 2)";

  // ...until one of the first two leaves: then it is greeted and served.
  first.close();
  EXPECT_EQ(third.greeting(), "*") << "the third client was not served after a slot freed";
  EXPECT_EQ(third.exchange("^abc$", 3), "bcd");
  EXPECT_EQ(second.exchange("^xyz$", 3), "yz{");
  EXPECT_TRUE(server.stop_and_wait(deadline));
}

TEST(PthreadLimitedServer, IdleClientsBeyondTheLimitDoNotStopService) {
  // N + 1 idle clients against a limit of N, then one that wants service:
  // it waits behind them, in order, and is served once the slots ahead of
  // it free.
  TestServer server(2);
  TestClient idle1(server.port());
  TestClient idle2(server.port());
  ASSERT_EQ(idle1.greeting(), "*");
  ASSERT_EQ(idle2.greeting(), "*");
  TestClient idle3(server.port());
  TestClient worker(server.port());
  ASSERT_EQ(idle3.greeting(absence_window), "") << "a third client was served (limit 2)";

  idle1.close();
  ASSERT_EQ(idle3.greeting(), "*") << "the first waiting client was not served when a slot freed";
  ASSERT_EQ(worker.greeting(absence_window), "")
      << "a fourth client was served while two clients held both slots (limit 2)";

  idle2.close();
  ASSERT_EQ(worker.greeting(), "*") << "the worker was not served when a second slot freed";
  EXPECT_EQ(worker.exchange("^abc$de^abte$f", 7), "bcdbcuf");
  EXPECT_EQ(worker.exchange("xyz^123", 3), "234");
  EXPECT_EQ(worker.exchange("25$^ab0000$abab", 8), "36bc1111");
  EXPECT_TRUE(server.stop_and_wait(deadline));
}

TEST(PthreadLimitedServer, AStopEndsTheWaitForASlotAtOnce) {
  // A long grace period: the served client could stay for all of it.
  TestServer server(1, 5s);
  TestClient served(server.port());
  ASSERT_EQ(served.greeting(), "*");
  TestClient waiting(server.port());
  // Time for the acceptor to settle into its wait for a slot.
  ASSERT_EQ(waiting.greeting(absence_window), "") << "a second client was served (limit 1)";

  // The stop must end the wait for a slot at once: the server then closes
  // its listener, which resets the client waiting in the backlog. That must
  // come first, while the served client is still within its grace period;
  // a server that only notices the stop when a client leaves would reset
  // the waiting client only after the grace period had ended the served one.
  server.request_stop();
  ASSERT_TRUE(waiting.ended()) << "the waiting client was left hanging after the stop";
  EXPECT_FALSE(served.ended(0ms))
      << "the stop ended the wait for a slot only when the grace period ended a served "
         "client: the acceptor must wake for the stop itself";

  // The served client leaves; then the server returns, long before its
  // grace period would have ended.
  served.close();
  EXPECT_TRUE(server.stop_and_wait(3s));
}

}  // namespace
}  // namespace exercises
