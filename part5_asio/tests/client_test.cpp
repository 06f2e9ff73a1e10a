// Integration tests of part5::Client: against the real servers (asio-server
// and asio-server-coro, started as subprocesses on port 0), and against
// small misbehaving servers that live inside the test (a FakeServer on its
// own io_context). Every wait has a deadline; nothing sleeps and hopes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>

#include <gtest/gtest.h>

#include "asio_headers.hpp"

#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/client.hpp"
#include "cs/frame_codec.hpp"

namespace {

using namespace std::chrono_literals;
using part5::Client;
using part5::ClientOptions;
using part5::Result;
using part5::Status;

constexpr auto result_deadline = 20s;  // generous: sanitizer builds are slow

Result wait_for(std::future<Result> future) {
  if (future.wait_for(result_deadline) != std::future_status::ready) {
    ADD_FAILURE() << "no result within " << result_deadline.count() << " s";
    return {Status::client_stopped, {}, "test gave up waiting"};
  }
  return future.get();
}

cs::Bytes plus_one(const cs::Bytes& bytes) {
  cs::Bytes out;
  for (const cs::Byte b : bytes) out.push_back(static_cast<cs::Byte>(b + 1));
  return out;
}

// --- A real server as a child process ------------------------------------------

class ServerProcess {
 public:
  // Starts `binary args...` and reads its "listening on HOST:PORT" line.
  // port() is 0 if the server exited without announcing (e.g. port in use).
  ServerProcess(const std::string& binary, std::vector<std::string> args) {
    // Built before fork(): the child of a threaded process may only call
    // async-signal-safe functions, and malloc is not one.
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_ = out[0];
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + result_deadline;
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd fd{stdout_, POLLIN, 0};
      if (left.count() <= 0 || poll(&fd, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[256];
      const ssize_t n = read(stdout_, buffer, sizeof buffer);
      if (n <= 0) break;  // exited without announcing
      line.append(buffer, static_cast<std::size_t>(n));
    }
    const auto colon = line.rfind(':');
    if (line.starts_with("listening on ") && colon != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    }
  }

  ~ServerProcess() {
    if (pid_ > 0 && !exit_status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(stdout_);
  }

  std::uint16_t port() const { return port_; }

  void terminate() { kill(pid_, SIGTERM); }

  // Waits for the exit (SIGKILL after the deadline); returns the exit
  // status, or -signal if a signal ended it.
  int wait_for_exit(std::chrono::seconds deadline = result_deadline) {
    if (exit_status_) return *exit_status_;
    // A pidfd becomes readable when the process exits: no polling loop.
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd >= 0) {
      pollfd fd{pidfd, POLLIN, 0};
      if (poll(&fd, 1, static_cast<int>(deadline.count() * 1000)) <= 0) kill(pid_, SIGKILL);
      close(pidfd);
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return *exit_status_;
  }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  std::uint16_t port_ = 0;
  std::optional<int> exit_status_;
};

std::vector<std::string> server_args(cs::Protocol protocol, std::uint16_t port = 0,
                                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--port", std::to_string(port), "--protocol",
                                std::string(cs::to_string(protocol)), "--threads", "2", "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// --- Misbehaving servers inside the test -------------------------------------------

// Accepts on 127.0.0.1 (an ephemeral port) and hands each connection to
// `on_accept`, on the FakeServer's own thread. Sockets stay open until the
// FakeServer is destroyed, unless the behaviour closes them.
class FakeServer {
 public:
  using Behaviour = std::function<void(std::shared_ptr<tcp::socket>)>;

  explicit FakeServer(Behaviour on_accept)
      : acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        port_(acceptor_.local_endpoint().port()),
        on_accept_(std::move(on_accept)) {
    do_accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeServer() {
    io_.stop();
    thread_.join();
  }

  // Read once, before the thread starts: the acceptor is the thread's then.
  std::uint16_t port() const { return port_; }

 private:
  void do_accept() {
    acceptor_.async_accept([this](const boost::system::error_code& error, tcp::socket socket) {
      if (error) return;
      auto shared = std::make_shared<tcp::socket>(std::move(socket));
      sockets_.push_back(shared);
      on_accept_(shared);
      do_accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_;
  Behaviour on_accept_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::thread thread_;
};

ClientOptions options_for(std::uint16_t port, cs::Protocol protocol) {
  ClientOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.protocol = protocol;
  return options;
}

// --- The happy path, against both servers and both protocols ------------------------

struct ServerAndProtocol {
  const char* binary;
  cs::Protocol protocol;
};

class RealServer : public ::testing::TestWithParam<ServerAndProtocol> {};

TEST_P(RealServer, RepliesToEveryRequestInOrder) {
  ServerProcess server(GetParam().binary, server_args(GetParam().protocol));
  ASSERT_NE(server.port(), 0) << "the server did not announce its port";
  auto client = std::make_unique<Client>(options_for(server.port(), GetParam().protocol));

  // Queued all at once: they go one at a time, in order, on one connection.
  std::vector<cs::Bytes> payloads;
  std::vector<std::future<Result>> results;
  for (int i = 0; i < 50; ++i) {
    payloads.push_back(cs::to_bytes("request " + std::to_string(i) + std::string(i * 40, 'x')));
    results.push_back(client->request(payloads.back()));
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result result = wait_for(std::move(results[i]));
    ASSERT_TRUE(result.ok()) << "request " << i << ": " << result.describe();
    EXPECT_EQ(result.reply, plus_one(payloads[i])) << "request " << i;
  }
  EXPECT_EQ(client->connections(), 1u);
  client.reset();  // gone before the signal, so the server has nobody to wait for
  server.terminate();
  EXPECT_EQ(server.wait_for_exit(), 0);
}

TEST_P(RealServer, SplitWritesWithAndWithoutNodelayStillWork) {
  ServerProcess server(GetParam().binary, server_args(GetParam().protocol));
  ASSERT_NE(server.port(), 0);
  for (const bool nodelay : {false, true}) {
    ClientOptions options = options_for(server.port(), GetParam().protocol);
    options.split_writes = true;
    options.nodelay = nodelay;
    Client client(options);
    for (int i = 0; i < 3; ++i) {
      const Result result = wait_for(client.request(cs::to_bytes("split")));
      ASSERT_TRUE(result.ok()) << result.describe();
      EXPECT_EQ(result.reply, cs::to_bytes("tqmju"));
    }
  }
  server.terminate();
  EXPECT_EQ(server.wait_for_exit(), 0);
}

// The graceful shutdown as a client sees it: requests on the wire or queued
// when SIGTERM arrives are all answered within the grace period.
TEST_P(RealServer, NoReplyIsLostWhenTheServerShutsDownGracefully) {
  ServerProcess server(GetParam().binary,
                       server_args(GetParam().protocol, 0, {"--shutdown-grace-ms", "10000"}));
  ASSERT_NE(server.port(), 0);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<Client>(options_for(server.port(), GetParam().protocol)));
    // Connected before the signal: a shut-down server takes no new clients.
    ASSERT_TRUE(wait_for(clients.back()->request(cs::to_bytes("hello"))).ok());
  }
  std::vector<std::future<Result>> results;
  for (int round = 0; round < 100; ++round) {
    for (auto& client : clients) results.push_back(client->request(cs::to_bytes("in flight")));
  }
  server.terminate();
  for (auto& result : results) {
    const Result r = wait_for(std::move(result));
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(r.reply, cs::to_bytes("jo!gmjhiu"));
  }
  clients.clear();  // the server exits once its last session is gone
  EXPECT_EQ(server.wait_for_exit(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Servers, RealServer,
    ::testing::Values(ServerAndProtocol{PART5_ASIO_SERVER, cs::Protocol::shift},
                      ServerAndProtocol{PART5_ASIO_SERVER, cs::Protocol::framed},
                      ServerAndProtocol{PART5_ASIO_SERVER_CORO, cs::Protocol::shift},
                      ServerAndProtocol{PART5_ASIO_SERVER_CORO, cs::Protocol::framed}),
    [](const auto& info) {
      return std::string(std::string_view(info.param.binary).ends_with("coro") ? "Coro" : "Callback") +
             (info.param.protocol == cs::Protocol::shift ? "Shift" : "Framed");
    });

// --- Reconnection ----------------------------------------------------------------------

// The server goes away and comes back on the same port: the request on the
// wire (none here) or sent while it is down fails with a clear error, and
// the client reconnects by itself once it is back.
TEST(Reconnect, ReconnectsAfterTheServerRestarts) {
  // Restarting on a fixed port can lose a race with another process taking
  // the port meanwhile; then the whole scenario runs again on a new port.
  for (int attempt = 0; attempt < 3; ++attempt) {
    // No grace period: the server drops its clients at once on SIGTERM.
    const std::vector<std::string> no_grace{"--shutdown-grace-ms", "0"};
    auto first = std::make_unique<ServerProcess>(PART5_ASIO_SERVER,
                                                 server_args(cs::Protocol::framed, 0, no_grace));
    ASSERT_NE(first->port(), 0);
    const std::uint16_t port = first->port();
    ClientOptions options = options_for(port, cs::Protocol::framed);
    options.max_retry_delay = 200ms;
    Client client(options);
    ASSERT_TRUE(wait_for(client.request(cs::to_bytes("one"))).ok());

    first->terminate();
    ASSERT_EQ(first->wait_for_exit(), 0);
    first.reset();
    // Down: a request fails (the connection is gone, and nothing listens).
    const Result while_down = wait_for(client.request(cs::to_bytes("two")));
    EXPECT_TRUE(while_down.status == Status::connect_failed ||
                while_down.status == Status::connection_lost)
        << while_down.describe();

    ServerProcess second(PART5_ASIO_SERVER, server_args(cs::Protocol::framed, port, no_grace));
    if (second.port() == 0) continue;  // the port was taken meanwhile
    // Up again: a request queued now waits for the next attempt (within
    // max_retry_delay) and succeeds; earlier attempts may still fail.
    std::optional<Result> result;
    for (int i = 0; i < 50 && !(result && result->ok()); ++i) {
      result = wait_for(client.request(cs::to_bytes("three")));
    }
    ASSERT_TRUE(result && result->ok()) << (result ? result->describe() : "no result");
    EXPECT_EQ(result->reply, cs::to_bytes("uisff"));
    EXPECT_EQ(client.connections(), 2u);
    second.terminate();
    EXPECT_EQ(second.wait_for_exit(), 0);
    return;
  }
  FAIL() << "could not restart the server on the same port in 3 attempts";
}

// --- Failures, each reported as what it is ---------------------------------------------

TEST(Failures, ANameThatDoesNotResolveIsALookupFailure) {
  ClientOptions options = options_for(9, cs::Protocol::framed);
  options.host = "no-such-host.invalid";  // RFC 6761: never resolves
  options.connect_timeout = 10s;          // so that a slow resolver is not a timeout
  Client client(options);
  const Result result = wait_for(client.request(cs::to_bytes("x")));
  EXPECT_EQ(result.status, Status::lookup_failed) << result.describe();
  EXPECT_EQ(client.connections(), 0u);
}

TEST(Failures, NobodyListeningIsConnectionRefused) {
  // A port that was free a moment ago, bound but not listening: refused.
  asio::io_context io;
  tcp::socket bound(io);
  bound.open(tcp::v4());
  bound.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  Client client(options_for(bound.local_endpoint().port(), cs::Protocol::shift));
  const Result result = wait_for(client.request(cs::to_bytes("x")));
  EXPECT_EQ(result.status, Status::connect_failed) << result.describe();
  EXPECT_NE(result.detail.find("refused"), std::string::npos) << result.detail;
}

TEST(Failures, AServerThatNeverAnswersIsARequestTimeout) {
  // Greets (so the connection is ready), then reads nothing and says nothing.
  // The client reconnects after its timeout; only the first greeting counts.
  std::promise<void> greeted;
  FakeServer silent([&greeted, first = true](std::shared_ptr<tcp::socket> socket) mutable {
    static const char greeting = '*';
    asio::async_write(*socket, asio::buffer(&greeting, 1),
                      [socket, &greeted, tell = std::exchange(first, false)](auto, auto) {
                        if (tell) greeted.set_value();
                      });
  });
  ClientOptions options = options_for(silent.port(), cs::Protocol::shift);
  options.request_timeout = 1000ms;
  Client client(options);
  ASSERT_EQ(greeted.get_future().wait_for(result_deadline), std::future_status::ready);
  const Result result = wait_for(client.request(cs::to_bytes("hello")));
  EXPECT_EQ(result.status, Status::request_timeout) << result.describe();
  // Timed out on the wire, not while waiting for a connection.
  EXPECT_NE(result.detail.find("no reply within"), std::string::npos) << result.detail;
}

TEST(Failures, AServerThatClosesMidReplyIsAConnectionLost) {
  // Reads one frame, sends the header and half of the reply, then closes.
  FakeServer half_reply([](std::shared_ptr<tcp::socket> socket) {
    auto frame = std::make_shared<cs::Bytes>(4 + 10);
    asio::async_read(*socket, asio::buffer(*frame), [socket, frame](auto error, auto) {
      if (error) return;
      frame->resize(4 + 5);  // the header still announces 10 bytes
      asio::async_write(*socket, asio::buffer(*frame), [socket, frame](auto, auto) {
        boost::system::error_code ignored;
        socket->shutdown(tcp::socket::shutdown_both, ignored);
        socket->close(ignored);
      });
    });
  });
  Client client(options_for(half_reply.port(), cs::Protocol::framed));
  const Result result = wait_for(client.request(cs::to_bytes("0123456789")));
  EXPECT_EQ(result.status, Status::connection_lost) << result.describe();
}

TEST(Failures, AListenerThatNeverCompletesTheHandshakeIsAConnectTimeout) {
  // A listener with a backlog of 0 that never accepts: once its accept queue
  // holds one connection, Linux drops further SYNs, so connect() hangs.
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(listener, 0), 0);
  socklen_t length = sizeof address;
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    fillers.push_back(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    connect(fillers.back(), reinterpret_cast<sockaddr*>(&address), sizeof address);
  }
  ClientOptions options = options_for(ntohs(address.sin_port), cs::Protocol::framed);
  options.connect_timeout = 300ms;
  options.request_timeout = 10s;
  {
    Client client(options);
    const Result result = wait_for(client.request(cs::to_bytes("x")));
    EXPECT_EQ(result.status, Status::connect_timeout) << result.describe();
  }
  for (const int fd : fillers) close(fd);
  close(listener);
}

TEST(Failures, AShiftMessageWithADollarIsRefusedBeforeSending) {
  Client client(options_for(9, cs::Protocol::shift));
  EXPECT_EQ(wait_for(client.request(cs::to_bytes("a$b"))).status, Status::invalid_request);
  EXPECT_EQ(wait_for(client.request(cs::Bytes{})).status, Status::invalid_request);
}

}  // namespace
