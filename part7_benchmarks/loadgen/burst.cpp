// burst: open --connections connections as fast as one thread can call
// connect(), then give each one request and count how many are served
// within --timeout. A connection is served when its request's reply came
// back right (for shift, after the "*" greeting). What is not served was
// refused or reset (the backlog overflowed and the kernel said so), timed
// out (its SYN or its handshake's last ACK was dropped and the retries ran
// past the timeout, or the server never got to it), or answered wrongly.
//
// The listen backlog is what this measures: the kernel completes handshakes
// on the server's behalf into a queue of at most min(backlog, somaxconn)
// connections, and what arrives while that queue is full waits for a SYN
// retransmission (docs/backlog.md: one second apart at first since Linux
// 6.5, doubling from the start before) that the timeout may not allow.
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

struct BurstConnection {
  enum class State { connecting, greeting, waiting_reply, served, failed };
  State state = State::connecting;
  cs::FileDescriptor fd;
  std::size_t out_pos = 0;
  std::size_t reply_pos = 0;
};

}  // namespace

std::string run_burst(const LoadOptions& o, const cs::StopSignal& stop) {
  const sockaddr_in address = ipv4_address(o.host, o.port);
  const Exchange exchange = make_exchange(o.protocol, o.size);
  Epoll epoll;
  epoll.add(stop.wait_fd(), EPOLLIN, nullptr);
  std::vector<BurstConnection> connections(o.connections);
  std::uint64_t refused = 0, wrong = 0, served = 0, open_failures = 0;
  LatencyHistogram time_to_serve;
  std::size_t pending = connections.size();

  cs::log_info("burst: opening ", o.connections, " connections, ", o.timeout, " s to be served");
  const double cpu_before = process_cpu_seconds();
  const auto start = Clock::now();
  const auto deadline = start + seconds_to_duration(o.timeout);

  auto finish = [&](BurstConnection& c, BurstConnection::State state) {
    if (c.fd) epoll.remove(c.fd.get());
    c.fd.reset();
    c.state = state;
    --pending;
  };

  for (BurstConnection& c : connections) {
    c.fd = start_connect(address, o.nodelay);
    if (!c.fd) {
      const int error = errno;
      ++(error == ECONNREFUSED || error == ECONNRESET ? refused : open_failures);
      if (open_failures == 1 && error != ECONNREFUSED) {
        cs::log_warn("cannot open a socket: ", std::strerror(error));
      }
      c.state = BurstConnection::State::failed;
      --pending;
      continue;
    }
    epoll.add(c.fd.get(), EPOLLOUT, &c);
  }
  const double seconds_to_connect = std::chrono::duration<double>(Clock::now() - start).count();

  cs::Byte buffer[16 * 1024];
  while (pending > 0 && !stop.stop_requested()) {
    const auto now = Clock::now();
    if (now >= deadline) break;
    const auto timeout = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    for (const epoll_event& event : epoll.wait(timeout)) {
      if (event.data.ptr == nullptr) continue;
      auto& c = *static_cast<BurstConnection*>(event.data.ptr);
      if (c.state == BurstConnection::State::connecting) {
        if (const int error = connect_error(c.fd.get()); error != 0) {
          ++(error == ECONNREFUSED || error == ECONNRESET ? refused : open_failures);
          finish(c, BurstConnection::State::failed);
          continue;
        }
        c.state = o.protocol == cs::Protocol::shift ? BurstConnection::State::greeting
                                                    : BurstConnection::State::waiting_reply;
        if (c.state == BurstConnection::State::waiting_reply) {
          // The request is small: one send() takes it whole or the
          // connection is broken.
          const ssize_t sent = cs::send_some(c.fd.get(), exchange.request);
          if (sent != static_cast<ssize_t>(exchange.request.size())) {
            ++refused;
            finish(c, BurstConnection::State::failed);
            continue;
          }
        }
        epoll.modify(c.fd.get(), EPOLLIN, &c);
        continue;
      }
      const ssize_t n = cs::recv_some(c.fd.get(), buffer);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) {  // closed or reset before being served
        ++refused;
        finish(c, BurstConnection::State::failed);
        continue;
      }
      cs::ByteView data(buffer, static_cast<std::size_t>(n));
      if (c.state == BurstConnection::State::greeting) {
        if (data.front() != shift_greeting) {
          ++wrong;
          finish(c, BurstConnection::State::failed);
          continue;
        }
        data = data.subspan(1);
        c.state = BurstConnection::State::waiting_reply;
        const ssize_t sent = cs::send_some(c.fd.get(), exchange.request);
        if (sent != static_cast<ssize_t>(exchange.request.size())) {
          ++refused;
          finish(c, BurstConnection::State::failed);
          continue;
        }
      }
      const std::size_t left = exchange.reply.size() - c.reply_pos;
      if (data.size() > left ||
          std::memcmp(data.data(), exchange.reply.data() + c.reply_pos, data.size()) != 0) {
        ++wrong;
        finish(c, BurstConnection::State::failed);
        continue;
      }
      c.reply_pos += data.size();
      if (c.reply_pos == exchange.reply.size()) {
        ++served;
        time_to_serve.record(nanoseconds_between(start, Clock::now()));
        finish(c, BurstConnection::State::served);
      }
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const std::uint64_t timed_out = pending;
  connections.clear();  // closes what is still open

  JsonLine json;
  json.add("mode", "burst")
      .add("protocol", o.protocol == cs::Protocol::shift ? "shift" : "framed")
      .add("connections", o.connections)
      .add("timeout_s", o.timeout)
      .add("seconds", elapsed)
      .add("seconds_to_connect", seconds_to_connect)
      .add("requests", served)
      .add("served", served)
      .add("success_rate", static_cast<double>(served) / o.connections)
      .add("refused", refused)
      .add("timed_out", timed_out)
      .add("errors", wrong)
      .add("connect_failures", refused + open_failures + timed_out)
      .add("open_failures", open_failures)
      .add_latencies(time_to_serve)
      .add("loadgen_cpu_s", process_cpu_seconds() - cpu_before)
      .add("stopped_early", stop.stop_requested());
  return json.str();
}

}  // namespace loadgen
