// Chat client - the interactive client of chat-server: each line read from
// stdin goes to the room as one frame (prefixed "NAME: " with --name), and
// every frame the room delivers is printed on stdout, one per line, as it
// arrives. At the end of stdin it sends what is left, tells the server it is
// done (shutdown of its sending side), and exits when the server closes;
// it also exits when the server closes first.
//
// One thread and poll() over stdin and the socket. Reading must never wait
// for writing: a client blocked in send() while the server (global-lock) is
// blocked sending to it would deadlock the whole room. So sends are
// non-blocking, and stdin is not read while a lot is still waiting to go.
//
// Run:  chat-client 9090 --name ann           (type lines; Ctrl-D leaves)
//       printf 'hello\nworld\n' | chat-client 9090 --name bob
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "cs/frame_codec.hpp"
#include "cs/options.hpp"
#include "cs/socket.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Stop reading stdin while this much is still waiting to be sent: a pipe
// can deliver input far faster than the network takes it.
constexpr std::size_t max_pending_output = 1 << 20;
constexpr std::size_t read_chunk = 64 * 1024;

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = cs::default_port;
  std::string name;
  std::uint32_t max_frame = cs::default_max_frame;
  long long linger_ms = 2000;
};

// Connects to host:port (a numeric address or a name), trying each address
// the resolver returns. Throws cs::SetupError saying what to do.
cs::FileDescriptor connect_tcp(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string where = cs::Endpoint{host, port}.to_string();
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
      rc != 0) {
    throw cs::SetupError("cannot resolve " + host + ": " + ::gai_strerror(rc) +
                         " (give --host an IPv4/IPv6 address or a resolvable name)");
  }
  int last_error = 0;
  for (const addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    cs::FileDescriptor fd(::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC,
                                   candidate->ai_protocol));
    if (!fd) {
      last_error = errno;
      continue;
    }
    int rc;
    do {
      rc = ::connect(fd.get(), candidate->ai_addr, candidate->ai_addrlen);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      ::freeaddrinfo(found);
      return fd;
    }
    last_error = errno;
  }
  ::freeaddrinfo(found);
  std::string advice;
  if (last_error == ECONNREFUSED) {
    advice = " (nothing is listening there: start it with `chat-server " + std::to_string(port) +
             "`, or give the right --host/port)";
  } else if (last_error == ETIMEDOUT || last_error == EHOSTUNREACH || last_error == ENETUNREACH) {
    advice = " (check the address and that the network path is open)";
  }
  throw cs::SetupError("cannot connect to " + where + ": " + std::strerror(last_error) + advice);
}

// The chat session once connected. Returns the exit status.
class Chat {
 public:
  Chat(cs::FileDescriptor socket, const ClientOptions& options)
      : socket_(std::move(socket)), options_(options), decoder_(options.max_frame) {}

  int run() {
    for (;;) {
      if (!stdin_open_ && pending() == 0 && !sending_done_) {
        // Everything typed has gone: tell the server we are done. It closes
        // its side in turn, and frames already on their way still arrive.
        ::shutdown(socket_.get(), SHUT_WR);
        sending_done_ = true;
        linger_deadline_ = Clock::now() + std::chrono::milliseconds(options_.linger_ms);
      }

      pollfd watched[2] = {
          {stdin_open_ && pending() < max_pending_output ? STDIN_FILENO : -1, POLLIN, 0},
          {socket_.get(), static_cast<short>(POLLIN | (pending() > 0 ? POLLOUT : 0)), 0},
      };
      int timeout_ms = -1;
      if (linger_deadline_) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(*linger_deadline_ -
                                                                       Clock::now());
        if (left.count() <= 0) return 0;  // the server never closed; we said goodbye anyway
        timeout_ms = static_cast<int>(left.count());
      }
      if (::poll(watched, 2, timeout_ms) < 0) {
        if (errno == EINTR) continue;
        return fail("poll", errno);
      }
      if (watched[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (const auto status = receive()) return *status;
      }
      if (watched[1].revents & POLLOUT) {
        if (const auto status = send_pending()) return *status;
      }
      if (watched[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) read_stdin();
    }
  }

 private:
  std::size_t pending() const { return outbound_.size() - sent_; }

  // Reads what the server sent and prints every complete frame. Returns an
  // exit status when the conversation is over.
  std::optional<int> receive() {
    std::array<cs::Byte, read_chunk> buffer;
    const ssize_t n = cs::recv_some(socket_.get(), buffer);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
    if (n < 0) {
      // A reset after we said goodbye is the server closing with frames we
      // did not read yet: not an error.
      if (sending_done_ && errno == ECONNRESET) return 0;
      return fail("connection lost", errno);
    }
    if (n == 0) {
      std::fflush(stdout);
      if (!sending_done_) std::cerr << "chat-client: the server closed the connection\n";
      return 0;
    }
    decoder_.feed(cs::ByteView(buffer.data(), static_cast<std::size_t>(n)));
    while (const auto payload = decoder_.next()) {
      std::fwrite(payload->data(), 1, payload->size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    if (decoder_.error()) {
      std::cerr << "chat-client: the server sent a " << *decoder_.error() << "\n";
      return 1;
    }
    return std::nullopt;
  }

  std::optional<int> send_pending() {
    const ssize_t n =
        cs::send_some(socket_.get(), cs::ByteView(outbound_).subspan(sent_));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
    if (n < 0) return fail("connection lost", errno);
    sent_ += static_cast<std::size_t>(n);
    if (sent_ == outbound_.size()) {
      outbound_.clear();
      sent_ = 0;
    }
    return std::nullopt;
  }

  void read_stdin() {
    char buffer[read_chunk];
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {  // end of input (or an unreadable stdin: treated the same)
      if (!line_.empty() && !discarding_) send_line();
      stdin_open_ = false;
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        if (!discarding_) send_line();
        line_.clear();
        discarding_ = false;
      } else if (!discarding_) {
        line_ += buffer[i];
        if (line_.size() > line_limit()) {
          std::cerr << "chat-client: a line longer than " << line_limit()
                    << " bytes (the frame limit, --max-frame, less the name) is not sent\n";
          line_.clear();
          discarding_ = true;  // up to the next newline
        }
      }
    }
  }

  std::size_t line_limit() const {
    const std::size_t prefix = options_.name.empty() ? 0 : options_.name.size() + 2;
    return options_.max_frame > prefix ? options_.max_frame - prefix : 0;
  }

  void send_line() {
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();  // typed on a CRLF terminal
    const std::string message = options_.name.empty() ? line_ : options_.name + ": " + line_;
    cs::append_frame(cs::as_bytes(message), outbound_);
    line_.clear();
  }

  int fail(const char* what, int error) {
    std::cerr << "chat-client: " << what << ": " << std::strerror(error) << "\n";
    return 1;
  }

  cs::FileDescriptor socket_;
  const ClientOptions& options_;
  cs::FrameDecoder decoder_;
  cs::Bytes outbound_;  // frames waiting to be sent; the first sent_ bytes already went
  std::size_t sent_ = 0;
  std::string line_;         // the line being read from stdin
  bool discarding_ = false;  // skipping the rest of an over-long line
  bool stdin_open_ = true;
  bool sending_done_ = false;  // our side is shut down
  std::optional<Clock::time_point> linger_deadline_;  // for the server's close, once we are done
};

}  // namespace

int main(int argc, char** argv) {
  ClientOptions options;
  CLI::App app("Chat client: stdin lines go to the room, the room's messages go to stdout",
               "chat-client");
  app.add_option("port,--port", options.port, "Port of the chat server")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--host", options.host, "Address of the chat server")->capture_default_str();
  app.add_option("--name", options.name, "Prefix every message with \"NAME: \"");
  app.add_option("--max-frame", options.max_frame,
                 "Largest message accepted from the server, and sent, in bytes")
      ->check(CLI::Range(std::uint32_t{1}, cs::largest_max_frame))
      ->capture_default_str();
  app.add_option("--linger-ms", options.linger_ms,
                 "At the end of stdin, how long to wait for the server to close")
      ->check(CLI::Range(0LL, 600'000LL))
      ->capture_default_str();
  cs::parse_or_exit(app, argc, argv);  // --help: exit 0; a bad argument: exit 2

  // A reader that closes our stdout (`chat-client | head -1`) must end us
  // with an error from write, not a signal; the socket uses MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  int status = 0;
  const int guarded = cs::run_guarded("chat-client", [&] {
    cs::FileDescriptor socket = connect_tcp(options.host, options.port);
    cs::set_nodelay(socket.get());
    std::cerr << "chat-client: connected to "
              << cs::Endpoint{options.host, options.port}.to_string() << " from "
              << cs::local_endpoint(socket.get()).to_string()
              << "; type lines to send, end of input (Ctrl-D) to leave\n";
    status = Chat(std::move(socket), options).run();
  });
  return guarded != 0 ? guarded : status;
}
