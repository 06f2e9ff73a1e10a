// What the part 6 exercise checks share: a QCoreApplication for the whole
// test program (Qt's event loops need one, on any thread), a server running
// on its own thread, and blocking clients with a deadline on every read.
#pragma once

#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QString>
#include <QtGlobal>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cs/socket.hpp"

namespace exercises {

using namespace std::chrono_literals;

// Short, so that a starting point that never does the thing fails quickly.
inline constexpr std::chrono::milliseconds quickly = 3s;

// Created once, on the main thread (gtest runs tests there), before any
// server thread starts its event loop; never destroyed, as Qt prefers.
inline void ensure_qt_application() {
  static int argc = 1;
  static char name[] = "exercise-check";
  static char* argv[] = {name, nullptr};
  static auto* application = new QCoreApplication(argc, argv);
  (void)application;
}

// Keeps every message Qt prints while an instance lives (from any thread),
// for checks that Qt printed no warning ("QSocketNotifier: Socket notifiers
// cannot be enabled or disabled from another thread" and the like). Qt has
// one message handler per process: one instance at a time. What was kept
// stays readable after the instance ends, until the next one begins.
class QtMessages {
 public:
  QtMessages() {
    {
      const std::lock_guard lock(store().mutex);
      store().lines.clear();
    }
    qInstallMessageHandler(&keep);
  }
  ~QtMessages() { qInstallMessageHandler(nullptr); }
  QtMessages(const QtMessages&) = delete;
  QtMessages& operator=(const QtMessages&) = delete;

  // The messages kept, one per indented line; empty when Qt printed none.
  static std::string printed() {
    const std::lock_guard lock(store().mutex);
    std::string all;
    for (const std::string& line : store().lines) all += "\n  " + line;
    return all;
  }

 private:
  struct Store {
    std::mutex mutex;
    std::vector<std::string> lines;
  };
  static Store& store() {
    static Store kept;
    return kept;
  }
  static void keep(QtMsgType, const QMessageLogContext&, const QString& text) {
    const std::lock_guard lock(store().mutex);
    store().lines.push_back(text.toStdString());
  }
};

struct Reading {
  std::string bytes;
  bool closed = false;
};

// Reads until `want` bytes arrived, the server closed, or `timeout` passed.
inline Reading read_some(int fd, std::size_t want, std::chrono::milliseconds timeout = quickly) {
  Reading reading;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  cs::Byte buffer[256];
  while (reading.bytes.size() < want) {
    if (cs::wait_for(fd, POLLIN, -1, deadline) != cs::WaitResult::ready) break;
    const ssize_t n = cs::recv_some(fd, buffer);
    if (n > 0) {
      reading.bytes.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      reading.closed = true;
      break;
    }
  }
  return reading;
}

inline Reading read_to_close(int fd, std::chrono::milliseconds timeout = quickly) {
  return read_some(fd, static_cast<std::size_t>(-1), timeout);
}

inline cs::FileDescriptor connect_to(std::uint16_t port) {
  cs::FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0)
      << std::strerror(errno);
  return fd;
}

// Connects until a client is greeted (a slot may take a moment to free:
// the server learns of a departure only when it reads the FIN). Returns an
// invalid descriptor if none was greeted within `timeout`.
inline cs::FileDescriptor greeted_client(std::uint16_t port,
                                         std::chrono::milliseconds timeout = quickly) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    cs::FileDescriptor fd = connect_to(port);
    if (read_some(fd.get(), 1).bytes == "*") return fd;
  }
  return {};
}

}  // namespace exercises
