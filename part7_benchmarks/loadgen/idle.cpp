// idle: open --connections connections, wait until each is established
// (and, for shift, greeted: the server has a thread or a slot for it), then
// hold them without sending a byte, so that the runner can read the
// server's memory and thread count with this many clients. One log line,
// "ready: holding N connections", says when to look; the hold ends after
// --seconds, or at SIGINT/SIGTERM with --seconds 0.
//
// A connection still not greeted after --connect-timeout is held anyway
// (the server may have it in its backlog or its queue) and counted as such.
//
// Connections are opened connect_batch at a time (a new one whenever one of
// the batch completes its handshake), not all at once: this mode measures
// what a held connection costs, and a SYN flood against the listen backlog
// (burst mode's subject) would lose some of them on the way.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "cs/log.hpp"
#include "modes.hpp"
#include "net.hpp"

namespace loadgen {

namespace {

constexpr std::size_t connect_batch = 500;

struct IdleConnection {
  enum class State { connecting, waiting_greeting, ready, closed };
  State state = State::connecting;
  cs::FileDescriptor fd;
};

}  // namespace

std::string run_idle(const LoadOptions& o, const cs::StopSignal& stop) {
  const sockaddr_in address = ipv4_address(o.host, o.port);
  Epoll epoll;
  epoll.add(stop.wait_fd(), EPOLLIN, nullptr);
  std::vector<IdleConnection> connections(o.connections);
  std::uint64_t failures = 0, dropped = 0, unexpected_bytes = 0;
  std::size_t pending = connections.size();
  const auto start = Clock::now();

  auto close = [&](IdleConnection& c) {
    epoll.remove(c.fd.get());
    c.fd.reset();
    c.state = IdleConnection::State::closed;
  };
  std::size_t next_to_open = 0, handshakes_in_progress = 0;
  // Opens connections until connect_batch handshakes are in progress.
  auto open_more = [&] {
    while (handshakes_in_progress < connect_batch && next_to_open < connections.size()) {
      IdleConnection& c = connections[next_to_open++];
      c.fd = start_connect(address, false);
      if (!c.fd) {
        if (failures++ == 0) cs::log_warn("cannot connect: ", std::strerror(errno));
        c.state = IdleConnection::State::closed;
        --pending;
        continue;
      }
      ++handshakes_in_progress;
      epoll.add(c.fd.get(), EPOLLOUT, &c);
    }
  };

  // Reads what arrives: a greeting, or the server closing the connection.
  auto on_event = [&](IdleConnection& c) {
    if (c.state == IdleConnection::State::connecting) {
      --handshakes_in_progress;
      if (connect_error(c.fd.get()) != 0) {
        ++failures;
        close(c);
        --pending;
        return;
      }
      epoll.modify(c.fd.get(), EPOLLIN, &c);
      if (o.protocol == cs::Protocol::shift) {
        c.state = IdleConnection::State::waiting_greeting;
      } else {
        c.state = IdleConnection::State::ready;
        --pending;
      }
      return;
    }
    cs::Byte buffer[256];
    const ssize_t n = cs::recv_some(c.fd.get(), buffer);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      if (c.state == IdleConnection::State::waiting_greeting) --pending;
      ++dropped;
      close(c);
      return;
    }
    const bool greeting = c.state == IdleConnection::State::waiting_greeting && buffer[0] == shift_greeting;
    unexpected_bytes += static_cast<std::uint64_t>(n) - (greeting ? 1 : 0);
    if (c.state == IdleConnection::State::waiting_greeting) {
      c.state = IdleConnection::State::ready;
      --pending;
    }
  };

  const auto ready_deadline = start + seconds_to_duration(o.connect_timeout);
  while (pending > 0 && !stop.stop_requested() && Clock::now() < ready_deadline) {
    open_more();
    const auto timeout = std::chrono::ceil<std::chrono::milliseconds>(ready_deadline - Clock::now());
    for (const epoll_event& event : epoll.wait(timeout)) {
      if (event.data.ptr != nullptr) on_event(*static_cast<IdleConnection*>(event.data.ptr));
    }
  }
  auto count = [&](IdleConnection::State state) {
    return static_cast<std::uint64_t>(std::count_if(
        connections.begin(), connections.end(), [&](const IdleConnection& c) { return c.state == state; }));
  };
  const std::uint64_t ready = count(IdleConnection::State::ready);
  const double seconds_to_ready = std::chrono::duration<double>(Clock::now() - start).count();
  const std::uint64_t held = next_to_open - failures - dropped;
  cs::log_info("ready: holding ", held, " connections (", ready,
               o.protocol == cs::Protocol::shift ? " greeted" : " established", ") after ",
               seconds_to_ready, " s");

  const auto hold_until =
      o.seconds > 0 ? Clock::now() + seconds_to_duration(o.seconds) : Clock::time_point::max();
  while (!stop.stop_requested() && Clock::now() < hold_until) {
    const auto left = hold_until == Clock::time_point::max()
                          ? std::chrono::milliseconds(1000)
                          : std::chrono::ceil<std::chrono::milliseconds>(hold_until - Clock::now());
    for (const epoll_event& event : epoll.wait(left)) {
      if (event.data.ptr != nullptr) on_event(*static_cast<IdleConnection*>(event.data.ptr));
    }
  }
  JsonLine json;
  json.add("mode", "idle")
      .add("protocol", o.protocol == cs::Protocol::shift ? "shift" : "framed")
      .add("connections", o.connections)
      .add("ready", ready)
      .add("opened", std::uint64_t{next_to_open})
      .add("held_at_end", next_to_open - failures - dropped)
      .add("seconds_to_ready", seconds_to_ready)
      .add("requests", std::uint64_t{0})
      .add("errors", unexpected_bytes > 0 ? std::uint64_t{1} : std::uint64_t{0})
      .add("unexpected_bytes", unexpected_bytes)
      .add("connect_failures", failures)
      .add("dropped", dropped);
  return json.str();
}

}  // namespace loadgen
