// Blocking test clients on 127.0.0.1 with a deadline on every read, for the
// tests and exercise checks that run a server (or one end of a connection)
// in the test process itself.
//
// The one copy: the exercise checks of parts 3, 4, 6 and 7 and common's own
// connection tests connect and read through these.
#pragma once

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "cs/socket.hpp"

namespace cs::testing {

// How long to wait for bytes that should come at once. Short, so that an
// exercise's starting point, which never sends them, fails quickly.
inline constexpr std::chrono::milliseconds quickly{3000};

// Socket buffer sizes to set before connecting (0: the kernel's default).
// Set before connect(), a small receive buffer also gives a small window, so
// a server writing to this client soon has writes waiting.
struct BufferSizes {
  int receive = 0;
  int send = 0;
};

// A connected client socket, or an invalid descriptor (with a test failure
// naming the error) when the connection was refused.
inline FileDescriptor connect_loopback(std::uint16_t port, BufferSizes buffers = {}) {
  FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return fd;
  }
  if (buffers.receive > 0) {
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buffers.receive, sizeof buffers.receive);
  }
  if (buffers.send > 0) {
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &buffers.send, sizeof buffers.send);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << ": " << std::strerror(errno);
    return {};
  }
  return fd;
}

// What a client read before its deadline, and whether the peer closed.
struct Reading {
  std::string bytes;
  bool closed = false;  // end of stream or a reset, not the deadline
};

// Reads until `want` bytes arrived, the peer closed, or `timeout` passed.
// `fd` may be blocking or not: each recv() follows a poll() that saw bytes.
inline Reading read_some(int fd, std::size_t want, std::chrono::milliseconds timeout = quickly) {
  Reading reading;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Byte buffer[256];
  while (reading.bytes.size() < want) {
    if (wait_for(fd, POLLIN, -1, deadline) != WaitResult::ready) break;
    const ssize_t n = recv_some(fd, buffer);
    if (n > 0) {
      reading.bytes.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      reading.closed = true;
      break;
    }
  }
  return reading;
}

// Reads until the peer closes (or `timeout`).
inline Reading read_to_close(int fd, std::chrono::milliseconds timeout = quickly) {
  return read_some(fd, static_cast<std::size_t>(-1), timeout);
}

}  // namespace cs::testing
