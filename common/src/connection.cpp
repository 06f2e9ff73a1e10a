// Stop-aware blocking connection; see connection.hpp.
#include "cs/connection.hpp"

#include <poll.h>

#include <cerrno>
#include <cstring>

namespace cs {

using Clock = std::chrono::steady_clock;

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
        } else {
          end_ = ConnectionEnd::idle_timeout;
        }
        return false;
      }
    }
  }
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
