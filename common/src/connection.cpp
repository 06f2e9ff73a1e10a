// Stop-aware blocking connection; see connection.hpp.
#include "cs/connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>  // TCP_INFO
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace cs {

using Clock = std::chrono::steady_clock;

namespace {

// When the kernel last sent data on `fd`, by its own clock of the socket
// (TCP_INFO's tcpi_last_data_sent, in milliseconds), or nullopt.
std::optional<Clock::time_point> kernel_last_data_sent(int fd, Clock::time_point now) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  return now - std::chrono::milliseconds(info.tcpi_last_data_sent);
}

}  // namespace

BlockingConnection::BlockingConnection(FileDescriptor fd, Endpoint peer, const StopSignal& stop,
                                       ConnectionPolicy policy)
    : fd_(std::move(fd)), peer_(std::move(peer)), stop_(stop), policy_(policy),
      last_activity_(Clock::now()) {}

std::optional<Clock::time_point> BlockingConnection::next_deadline() const {
  std::optional<Clock::time_point> deadline = grace_deadline_;
  if (policy_.idle_timeout.count() > 0) {
    const auto idle_deadline = last_activity_ + policy_.idle_timeout;
    if (!deadline || idle_deadline < *deadline) deadline = idle_deadline;
  }
  if (request_deadline_ && (!deadline || *request_deadline_ < *deadline)) {
    deadline = request_deadline_;
  }
  return deadline;
}

bool BlockingConnection::wait(short events) {
  for (;;) {
    // Once the stop has been seen, stop polling the stop pipe: it stays
    // readable forever, and the grace deadline now bounds the wait instead.
    const int stop_fd = grace_deadline_ ? -1 : stop_.wait_fd();
    switch (wait_for(fd_.get(), events, stop_fd, next_deadline())) {
      case WaitResult::ready:
        return true;
      case WaitResult::stop_requested:
        grace_deadline_ = stop_.stop_time() + policy_.shutdown_grace;
        continue;
      case WaitResult::timed_out: {
        const auto now = Clock::now();
        if (grace_deadline_ && now >= *grace_deadline_) {
          end_ = ConnectionEnd::shutdown;
        } else if (request_deadline_ && now >= *request_deadline_) {
          end_ = ConnectionEnd::request_timeout;
        } else if (sent_by_another_thread(now)) {
          continue;  // not idle: the idle deadline moved on
        } else {
          end_ = ConnectionEnd::idle_timeout;
        }
        return false;
      }
    }
  }
}

bool BlockingConnection::sent_by_another_thread(Clock::time_point now) {
  // Idle means no byte received or sent. This object sees its own sends,
  // but another thread may write to the socket too (the chat room delivers
  // a message from the sender's thread), and only the kernel saw those
  // bytes go. So before calling the connection idle, ask it.
  const auto sent = kernel_last_data_sent(fd_.get(), now);
  if (!sent || *sent <= last_activity_) return false;
  last_activity_ = *sent;
  return now < last_activity_ + policy_.idle_timeout;
}

void BlockingConnection::fail(int error) {
  end_ = ConnectionEnd::error;
  error_ = error;
}

std::optional<ByteView> BlockingConnection::receive(std::span<Byte> buffer) {
  while (end_ == ConnectionEnd::open) {
    const ssize_t n = recv_some(fd_.get(), buffer);
    if (n > 0) {
      last_activity_ = Clock::now();
      bytes_received_ += static_cast<std::uint64_t>(n);
      return ByteView(buffer.data(), static_cast<std::size_t>(n));
    }
    if (n == 0) {
      end_ = ConnectionEnd::peer_closed;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(POLLIN);
    } else {
      fail(errno);
    }
  }
  return std::nullopt;
}

bool BlockingConnection::send(ByteView data) {
  while (!data.empty() && end_ == ConnectionEnd::open) {
    const ssize_t n = send_some(fd_.get(), data);
    if (n >= 0) {
      last_activity_ = Clock::now();
      bytes_sent_ += static_cast<std::uint64_t>(n);
      data = data.subspan(static_cast<std::size_t>(n));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(POLLOUT);
    } else {
      fail(errno);
    }
  }
  return data.empty();
}

std::string BlockingConnection::end_description() const {
  switch (end_) {
    case ConnectionEnd::open: return "open";
    case ConnectionEnd::peer_closed: return "client closed";
    case ConnectionEnd::idle_timeout:
      return "idle for " + std::to_string(policy_.idle_timeout.count()) + " ms";
    case ConnectionEnd::request_timeout:
      return "request not complete after " + std::to_string(policy_.request_timeout.count()) +
             " ms";
    case ConnectionEnd::shutdown: return "shutdown grace period over";
    case ConnectionEnd::error: return std::strerror(error_);
  }
  return "?";
}

}  // namespace cs
