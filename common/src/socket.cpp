// Socket helpers; see socket.hpp for the contracts.
#include "cs/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cs {

void FileDescriptor::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

namespace {

Endpoint endpoint_from(const sockaddr* address, socklen_t length) {
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (::getnameinfo(address, length, host, sizeof host, service, sizeof service,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {"?", 0};
  }
  return {host, static_cast<std::uint16_t>(std::stoi(service))};
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

std::string advice_for_bind_error(int error) {
  switch (error) {
    case EADDRINUSE:
      return " (another process is listening there: stop it, or choose another --port; 0 picks a free one)";
    case EACCES:
      return " (ports below 1024 need privileges: choose a port of 1024 or more)";
    case EADDRNOTAVAIL:
      return " (this machine has no such address: use 127.0.0.1, ::1, 0.0.0.0 or one of its own)";
    default:
      return "";
  }
}

FileDescriptor listen_tcp(const std::string& host, std::uint16_t port, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;  // IPv4 or IPv6, whichever `host` is
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const std::string where = Endpoint{host, port}.to_string();
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    throw SetupError("cannot listen on " + where + ": " + ::gai_strerror(rc) +
                     " (give --host an IPv4/IPv6 address or a resolvable name)");
  }

  int last_error = 0;
  for (const addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    FileDescriptor fd(::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC,
                               candidate->ai_protocol));
    if (!fd) {
      last_error = errno;
      continue;
    }
    const int on = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd.get(), candidate->ai_addr, candidate->ai_addrlen) == 0 &&
        ::listen(fd.get(), backlog) == 0) {
      ::freeaddrinfo(found);
      return fd;
    }
    last_error = errno;
  }
  ::freeaddrinfo(found);
  throw SetupError("cannot listen on " + where + ": " + errno_text(last_error) +
                   advice_for_bind_error(last_error));
}

Endpoint local_endpoint(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {"?", 0};
  return endpoint_from(reinterpret_cast<sockaddr*>(&address), length);
}

bool set_nodelay(int fd) {
  const int on = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0;
}

Accepted accept_client(int listen_fd, int flags) {
  Accepted result;
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&address), &length,
                           SOCK_CLOEXEC | flags);
  if (fd >= 0) {
    result.kind = Accepted::Kind::client;
    result.fd.reset(fd);
    result.peer = endpoint_from(reinterpret_cast<sockaddr*>(&address), length);
    return result;
  }
  result.error = errno;
  result.kind = accept_error_kind(errno);
  return result;
}

Accepted::Kind accept_error_kind(int error) {
  switch (error) {
    // accept(2): Linux passes already-pending network errors of the new
    // socket up through accept; treat them like EAGAIN and retry. EPERM:
    // a firewall refused this one connection.
    case EINTR: case EAGAIN: case ECONNABORTED: case EPROTO: case ENETDOWN:
    case ENOPROTOOPT: case EHOSTDOWN: case ENONET: case EHOSTUNREACH:
    case EOPNOTSUPP: case ENETUNREACH: case EPERM:
      return Accepted::Kind::retry;
    case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
      return Accepted::Kind::exhausted;
    default:
      return Accepted::Kind::fatal;
  }
}

WaitResult wait_for(int fd, short events, int stop_fd,
                    std::optional<std::chrono::steady_clock::time_point> deadline) {
  using namespace std::chrono;
  pollfd watched[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
  const nfds_t count = stop_fd >= 0 ? 2 : 1;
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      const auto left = ceil<milliseconds>(*deadline - steady_clock::now()).count();
      if (left <= 0) return WaitResult::timed_out;
      timeout_ms = left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left);
    }
    const int rc = ::poll(watched, count, timeout_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return WaitResult::ready;  // let the caller's recv/send report it
    if (count == 2 && (watched[1].revents & POLLIN)) return WaitResult::stop_requested;
    if (watched[0].revents != 0) return WaitResult::ready;
    // rc == 0: poll's own timeout; loop to recheck the deadline (poll may
    // wake a little early because it rounds).
  }
}

ssize_t recv_some(int fd, std::span<Byte> buffer) {
  for (;;) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

ssize_t send_some(int fd, ByteView data) {
  for (;;) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

bool send_all(int fd, ByteView data) {
  while (!data.empty()) {
    const ssize_t n = send_some(fd, data);
    if (n >= 0) {
      data = data.subspan(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait_for(fd, POLLOUT, -1, std::nullopt);
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace cs
