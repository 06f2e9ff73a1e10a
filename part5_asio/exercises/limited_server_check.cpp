// Check of exercise part5-1: GreetingServer admits at most max_clients at
// once (limited_server.hpp). Run: ./run exercise part5-1
#include <poll.h>

#include <gtest/gtest.h>

#include <limited_server.hpp>

#include <chrono>
#include <memory>
#include <thread>

namespace {

using namespace std::chrono_literals;

// What the first read on a fresh connection got, within a deadline.
enum class FirstRead { greeting, closed, nothing };

FirstRead first_read(tcp::socket& socket, std::chrono::milliseconds deadline = 5000ms) {
  pollfd fd{socket.native_handle(), POLLIN, 0};
  if (poll(&fd, 1, static_cast<int>(deadline.count())) <= 0) return FirstRead::nothing;
  char byte = 0;
  boost::system::error_code error;
  const std::size_t n = socket.read_some(asio::buffer(&byte, 1), error);
  return n == 1 && byte == '*' ? FirstRead::greeting : FirstRead::closed;
}

// The server on its own io_context thread; the test connects with blocking
// sockets, as unrelated clients would.
class Fixture {
 public:
  explicit Fixture(unsigned max_clients) : server_(io_, max_clients) {
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Fixture() {
    io_.stop();
    thread_.join();
  }
  std::unique_ptr<tcp::socket> connect() {
    auto socket = std::make_unique<tcp::socket>(client_io_);
    socket->connect(tcp::endpoint(asio::ip::address_v4::loopback(), server_.port()));
    return socket;
  }

 private:
  asio::io_context io_;
  part5ex::GreetingServer server_;
  std::thread thread_;
  asio::io_context client_io_;
};

TEST(MaxClients, ClientsUpToTheLimitAreGreeted) {
  Fixture fixture(2);
  auto first = fixture.connect();
  auto second = fixture.connect();
  EXPECT_EQ(first_read(*first), FirstRead::greeting);
  EXPECT_EQ(first_read(*second), FirstRead::greeting);
}

TEST(MaxClients, OneClientOverTheLimitIsClosedWithoutAGreeting) {
  Fixture fixture(2);
  auto first = fixture.connect();
  auto second = fixture.connect();
  ASSERT_EQ(first_read(*first), FirstRead::greeting);
  ASSERT_EQ(first_read(*second), FirstRead::greeting);
  auto third = fixture.connect();
  EXPECT_EQ(first_read(*third), FirstRead::closed)
      << "a third client with --max-clients 2 must be closed at once, without '*'";
}

TEST(MaxClients, ASlotFreesUpWhenAClientLeaves) {
  Fixture fixture(1);
  auto first = fixture.connect();
  ASSERT_EQ(first_read(*first), FirstRead::greeting);
  auto refused = fixture.connect();
  EXPECT_EQ(first_read(*refused), FirstRead::closed);
  first->close();
  // The server learns of the departure asynchronously: a client connecting
  // right after may still be refused, but one soon after must be greeted.
  FirstRead outcome = FirstRead::closed;
  for (int attempt = 0; attempt < 100 && outcome == FirstRead::closed; ++attempt) {
    auto next = fixture.connect();
    outcome = first_read(*next);
  }
  EXPECT_EQ(outcome, FirstRead::greeting);
}

TEST(MaxClients, ZeroMeansNoLimit) {
  Fixture fixture(0);
  std::vector<std::unique_ptr<tcp::socket>> clients;
  for (int i = 0; i < 5; ++i) clients.push_back(fixture.connect());
  for (auto& client : clients) EXPECT_EQ(first_read(*client), FirstRead::greeting);
}

}  // namespace
