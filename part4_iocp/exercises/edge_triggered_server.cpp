// Exercise part4-2: the edge-triggered loop; the contract is in
// edge_triggered_server.hpp.
#include "edge_triggered_server.hpp"

#include <fcntl.h>
#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <map>
#include <memory>
#include <system_error>

#include "cs/log.hpp"
#include "cs/session.hpp"

namespace exercises {
namespace {

void make_non_blocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw std::system_error(errno, std::generic_category(), "fcntl(O_NONBLOCK)");
  }
}

struct Connection {
  cs::FileDescriptor fd;
  std::unique_ptr<cs::Session> session;
  cs::Bytes out;          // replies not yet sent
  std::size_t sent = 0;   // how much of `out` the kernel has taken
  bool closing = false;   // the session asked to close once `out` is sent
  bool paused = false;    // stopped reading with replies over output_limit
};

// Replies waiting to be sent beyond which a connection stops reading: a
// client that sends without reading must not grow the server without end.
constexpr std::size_t output_limit = 256 * 1024;

bool over_limit(const Connection& connection) {
  return connection.out.size() - connection.sent >= output_limit;
}

class Loop {
 public:
  Loop(cs::FileDescriptor listener, const cs::StopSignal& stop)
      : listener_(std::move(listener)), stop_(stop), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    make_non_blocking(listener_.get());
    watch(listener_.get(), EPOLLIN | EPOLLET);
    // The stop descriptor stays readable once set: level-triggered is right
    // for it, and the loop returns at its first report anyway.
    watch(stop_.wait_fd(), EPOLLIN);
  }

  void run() {
    std::array<epoll_event, 64> events{};
    while (true) {
      const int ready = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "epoll_wait");
      }
      for (int i = 0; i < ready; ++i) {
        const int fd = events[i].data.fd;
        if (fd == stop_.wait_fd()) return;  // the destructors close everything
        if (fd == listener_.get()) {
          accept_clients();
          continue;
        }
        const auto found = connections_.find(fd);
        if (found == connections_.end()) continue;  // closed earlier in this batch
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(found->second);
        // receive() may have closed it.
        const auto still = connections_.find(fd);
        if (still != connections_.end() && (events[i].events & EPOLLOUT)) {
          Connection& connection = still->second;
          // Space opened up: send, and resume a paused connection. Its
          // unread bytes were there all along and will not be reported
          // again, so it must be read now.
          if (flush(connection) && connection.paused && !over_limit(connection)) {
            connection.paused = false;
            receive(connection);
          }
        }
      }
    }
  }

 private:
  void watch(int fd, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl(ADD)");
    }
  }

  void accept_clients() {
    // EXERCISE(part4-2): one connection per report. The listener reported
    // a change (one or more connections queued); those still queued after
    // this one produce no new report, so they wait until yet another client
    // arrives. Accept until the queue is empty (accept says EAGAIN).
    cs::Accepted accepted = cs::accept_client(listener_.get());
    if (accepted.kind != cs::Accepted::Kind::client) {
      // EAGAIN: nothing queued after all. Out of descriptors (exhausted):
      // epoll_server.cpp backs off and retries on a timer; here what is
      // queued waits for the next report.
      if (accepted.error != EAGAIN && accepted.error != EWOULDBLOCK) {
        cs::log_warn("accept failed: ", std::error_code(accepted.error, std::generic_category()).message());
      }
      return;
    }
    start(std::move(accepted.fd));
  }

  void start(cs::FileDescriptor fd) {
    make_non_blocking(fd.get());
    const int key = fd.get();
    Connection& connection = connections_[key];
    connection.fd = std::move(fd);
    connection.session = cs::make_session(cs::Protocol::shift, cs::SessionLimits{});
    connection.session->greet(connection.out);
    // Registered once for both directions, never changed (no
    // epoll_ctl(MOD) to switch EPOLLOUT on and off): EPOLLOUT comes along
    // with reports while the socket is writable, and a new report is
    // certain once send() has said EAGAIN and space opens up.
    watch(key, EPOLLIN | EPOLLOUT | EPOLLET);
    flush(connection);
  }

  void receive(Connection& connection) {
    // EXERCISE(part4-2): one chunk per report. A message longer than
    // read_chunk, or several that arrived together, leave bytes in the
    // socket that produce no new report: the client waits for replies to
    // bytes the server never reads. Read until recv says EAGAIN (or the
    // peer's end, or the session closes). And bound the replies: once
    // over_limit(), flush; if they still do not fit, set `paused` and
    // return (run() resumes a paused connection when space opens up).
    std::array<cs::Byte, read_chunk> buffer{};
    const ssize_t got = cs::recv_some(connection.fd.get(), buffer);
    if (got == 0) {
      connection.closing = true;  // the peer's end: send what is left, then close
      flush(connection);
      return;
    }
    if (got < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) close(connection);  // a reset
      return;  // EAGAIN: nothing after all
    }
    const cs::Verdict verdict = connection.session->on_receive(
        cs::ByteView(buffer.data(), static_cast<std::size_t>(got)), connection.out);
    if (verdict.close) connection.closing = true;
    flush(connection);
  }

  // Sends until everything is out or the send buffer is full; in the second
  // case the next EPOLLOUT edge (space opened up) calls it again. This is
  // the rule the two EXERCISE places must follow as well. Returns false if
  // it closed the connection (which is then gone).
  bool flush(Connection& connection) {
    while (connection.sent < connection.out.size()) {
      const ssize_t put = cs::send_some(
          connection.fd.get(), cs::ByteView(connection.out).subspan(connection.sent));
      if (put < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          // Drop what was sent once it is at least half the buffer, so
          // that `out` holds only unsent replies (bounded by output_limit
          // plus one read's worth), not all the traffic of a connection
          // that keeps sending while it reads slowly.
          if (connection.sent >= connection.out.size() - connection.sent) {
            connection.out.erase(connection.out.begin(),
                                 connection.out.begin() + static_cast<std::ptrdiff_t>(connection.sent));
            connection.sent = 0;
          }
          return true;
        }
        close(connection);
        return false;
      }
      connection.sent += static_cast<std::size_t>(put);
    }
    connection.out.clear();
    connection.sent = 0;
    if (connection.closing) {
      close(connection);
      return false;
    }
    return true;
  }

  // Closing the descriptor also removes it from the epoll set.
  void close(Connection& connection) { connections_.erase(connection.fd.get()); }

  cs::FileDescriptor listener_;
  const cs::StopSignal& stop_;
  cs::FileDescriptor epoll_;
  std::map<int, Connection> connections_;
};

}  // namespace

void serve_edge_triggered(cs::FileDescriptor listener, const cs::StopSignal& stop) {
  Loop(std::move(listener), stop).run();
}

}  // namespace exercises
