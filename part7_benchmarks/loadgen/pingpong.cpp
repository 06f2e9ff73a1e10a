// pingpong: a closed loop. Each connection keeps --pipeline requests in
// flight; each reply is checked byte for byte against the one expected, and
// only then counts (and its latency, from the request's first send() to the
// reply's last byte, is recorded). A wrong byte is an error: the connection
// is closed (its stream can no longer be trusted) and opened again.
//
// --threads T runs T event loops, each with every T-th connection, its own
// epoll set, counters and histogram; they share nothing while running and
// are merged at the end. So on 2 cores the generator can use both, and its
// own CPU time is reported beside the result to show when it was the limit.
//
// Time: a warm-up (connections open, caches and the server's threads warm
// up, nothing counted), then --seconds measured: a request counts when its
// reply completes inside the measured window.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>

#include "cs/log.hpp"
#include "modes.hpp"
#include "net.hpp"

namespace loadgen {

namespace {

constexpr std::size_t receive_chunk = 64 * 1024;
constexpr auto reconnect_pause = std::chrono::milliseconds(50);

struct Counters {
  std::uint64_t requests = 0;         // verified replies inside the window
  // Verified replies from the first connect on, warm-up included: what the
  // server did over the whole run, to divide its CPU time over the whole run
  // by (the benchmark reads that from outside, before and after loadgen).
  std::uint64_t requests_all = 0;
  std::uint64_t wrong_replies = 0;    // a reply byte differed from the expected one
  std::uint64_t disconnects = 0;      // the server closed or reset a connection mid-run
  std::uint64_t connect_failures = 0; // refused, reset or timed out while connecting
  std::uint64_t connections_served = 0;  // connections that got at least one reply
  LatencyHistogram latency;

  void merge(const Counters& other) {
    requests += other.requests;
    requests_all += other.requests_all;
    wrong_replies += other.wrong_replies;
    disconnects += other.disconnects;
    connect_failures += other.connect_failures;
    connections_served += other.connections_served;
    latency.merge(other.latency);
  }
};

struct Connection {
  enum class State { idle, connecting, greeting, running };
  State state = State::idle;
  cs::FileDescriptor fd;
  Clock::time_point connect_started{};
  Clock::time_point retry_at{};  // when idle: when to connect again

  cs::Bytes out;               // bytes not yet sent, from out_pos
  std::size_t out_pos = 0;
  std::deque<std::size_t> cuts;  // --split-writes: offsets in `out` where a send() must stop
  std::uint32_t events = 0;  // what epoll watches for now

  std::deque<Clock::time_point> in_flight;  // send time of each unanswered request
  std::size_t reply_pos = 0;   // bytes of the oldest reply already matched
  bool served = false;
};

class Worker {
 public:
  Worker(const LoadOptions& options, const sockaddr_in& address, const Exchange& exchange,
         unsigned connections, const cs::StopSignal& stop)
      : o_(options), address_(address), exchange_(exchange), stop_(stop),
        connections_(connections) {}

  // Runs from `start` to `end`, counting what completes after `measure_from`.
  void run(Clock::time_point measure_from, Clock::time_point end) {
    measure_from_ = measure_from;
    epoll_.add(stop_.wait_fd(), EPOLLIN, nullptr);
    for (Connection& c : connections_) open(c, Clock::now());
    std::vector<char> buffer(receive_chunk);
    for (;;) {
      const auto now = Clock::now();
      if (now >= end || stop_.stop_requested()) break;
      auto timeout = std::chrono::ceil<std::chrono::milliseconds>(end - now);
      timeout = std::min(timeout, next_timer(now));
      for (const epoll_event& event : epoll_.wait(timeout)) {
        if (event.data.ptr == nullptr) continue;  // the stop fd: the loop condition sees it
        handle(*static_cast<Connection*>(event.data.ptr), event.events, buffer);
      }
      run_timers(Clock::now());
    }
    for (Connection& c : connections_) {
      if (c.served) ++counters_.connections_served;
    }
  }

  const Counters& counters() const { return counters_; }

 private:
  // How long until the next reconnect or connect timeout needs a look.
  std::chrono::milliseconds next_timer(Clock::time_point now) const {
    auto soonest = Clock::time_point::max();
    for (const Connection& c : connections_) {
      if (c.state == Connection::State::idle) soonest = std::min(soonest, c.retry_at);
      if (c.state == Connection::State::connecting) {
        soonest = std::min(soonest, c.connect_started + seconds_to_duration(o_.connect_timeout));
      }
    }
    if (soonest == Clock::time_point::max()) return std::chrono::milliseconds(1000);
    if (soonest <= now) return std::chrono::milliseconds(0);
    return std::chrono::ceil<std::chrono::milliseconds>(soonest - now);
  }

  void run_timers(Clock::time_point now) {
    for (Connection& c : connections_) {
      if (c.state == Connection::State::idle && c.retry_at <= now) open(c, now);
      if (c.state == Connection::State::connecting &&
          now - c.connect_started >= seconds_to_duration(o_.connect_timeout)) {
        ++counters_.connect_failures;
        close(c, now, "connect timed out");
      }
    }
  }

  void open(Connection& c, Clock::time_point now) {
    c = Connection{};
    c.fd = start_connect(address_, o_.nodelay);
    if (!c.fd) {
      ++counters_.connect_failures;
      cs::log_debug("connect failed: ", std::strerror(errno));
      c.retry_at = now + reconnect_pause;
      return;
    }
    c.state = Connection::State::connecting;
    c.connect_started = now;
    c.events = EPOLLOUT;
    epoll_.add(c.fd.get(), c.events, &c);
  }

  // Closes `c` and schedules a new connection in its place.
  void close(Connection& c, Clock::time_point now, const char* why) {
    cs::log_debug("closing a connection: ", why);
    if (c.fd) epoll_.remove(c.fd.get());
    const bool served = c.served;
    c = Connection{};
    c.served = served;
    c.retry_at = now + reconnect_pause;
  }

  void handle(Connection& c, std::uint32_t events, std::vector<char>& buffer) {
    const auto now = Clock::now();
    if (c.state == Connection::State::connecting) {
      if (connect_error(c.fd.get()) != 0) {
        ++counters_.connect_failures;
        close(c, now, "connect failed");
        return;
      }
      // Connected. A shift server greets first; framed starts at once.
      if (o_.protocol == cs::Protocol::shift) {
        c.state = Connection::State::greeting;
        update_interest(c, false);
      } else {
        c.state = Connection::State::running;
        fill_pipeline(c, now);
        if (!flush(c, now)) return;
      }
      return;
    }
    if (events & EPOLLOUT) {
      if (!flush(c, now)) return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) receive(c, buffer);
  }

  void fill_pipeline(Connection& c, Clock::time_point now) {
    while (c.in_flight.size() < o_.pipeline) {
      if (o_.split_writes) c.cuts.push_back(c.out.size() + exchange_.header_bytes);
      c.out.insert(c.out.end(), exchange_.request.begin(), exchange_.request.end());
      if (o_.split_writes) c.cuts.push_back(c.out.size());
      c.in_flight.push_back(now);
    }
  }

  // Sends what is pending, one send() per piece when splitting. Returns
  // false when the connection was closed.
  bool flush(Connection& c, Clock::time_point now) {
    while (c.out_pos < c.out.size()) {
      while (!c.cuts.empty() && c.cuts.front() <= c.out_pos) c.cuts.pop_front();
      const std::size_t end = c.cuts.empty() ? c.out.size() : c.cuts.front();
      const ssize_t sent =
          cs::send_some(c.fd.get(), cs::ByteView(c.out).subspan(c.out_pos, end - c.out_pos));
      if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        ++counters_.disconnects;
        close(c, now, "send failed");
        return false;
      }
      c.out_pos += static_cast<std::size_t>(sent);
    }
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      c.out_pos = 0;
      c.cuts.clear();
    }
    update_interest(c, c.out_pos < c.out.size());
    return true;
  }

  // Changes the epoll registration only when it must (each change is a
  // system call, and most sends complete at once).
  void update_interest(Connection& c, bool want_write) {
    const std::uint32_t events = EPOLLIN | (want_write ? EPOLLOUT : 0u);
    if (events == c.events) return;
    c.events = events;
    epoll_.modify(c.fd.get(), events, &c);
  }

  void receive(Connection& c, std::vector<char>& buffer) {
    for (;;) {
      const ssize_t n = cs::recv_some(
          c.fd.get(), std::span(reinterpret_cast<cs::Byte*>(buffer.data()), buffer.size()));
      const auto now = Clock::now();
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        ++counters_.disconnects;
        close(c, now, n == 0 ? "server closed the connection" : "recv failed");
        return;
      }
      if (n < 0) return;  // drained
      if (!consume(c, {reinterpret_cast<const cs::Byte*>(buffer.data()),
                       static_cast<std::size_t>(n)},
                   now)) {
        ++counters_.wrong_replies;
        close(c, now, "wrong reply");
        return;
      }
      if (c.state == Connection::State::running && !c.out.empty() && !flush(c, now)) return;
    }
  }

  // Matches `data` against the expected replies. Returns false on the first
  // byte that differs (or a byte no request asked for).
  bool consume(Connection& c, cs::ByteView data, Clock::time_point now) {
    if (c.state == Connection::State::greeting) {
      if (data.front() != shift_greeting) return false;
      data = data.subspan(1);
      c.state = Connection::State::running;
      fill_pipeline(c, now);
    }
    const cs::Bytes& reply = exchange_.reply;
    while (!data.empty()) {
      if (c.in_flight.empty()) return false;
      const std::size_t n = std::min(data.size(), reply.size() - c.reply_pos);
      if (std::memcmp(data.data(), reply.data() + c.reply_pos, n) != 0) return false;
      data = data.subspan(n);
      c.reply_pos += n;
      if (c.reply_pos == reply.size()) {
        c.reply_pos = 0;
        ++counters_.requests_all;
        if (now >= measure_from_) {
          ++counters_.requests;
          counters_.latency.record(nanoseconds_between(c.in_flight.front(), now));
        }
        c.served = true;
        c.in_flight.pop_front();
        fill_pipeline(c, now);  // the closed loop: one out, one in
      }
    }
    return true;
  }

  const LoadOptions& o_;
  sockaddr_in address_;
  const Exchange& exchange_;
  const cs::StopSignal& stop_;
  Epoll epoll_;
  std::vector<Connection> connections_;
  Counters counters_;
  Clock::time_point measure_from_{};
};

}  // namespace

std::string run_pingpong(const LoadOptions& o, const cs::StopSignal& stop) {
  const sockaddr_in address = ipv4_address(o.host, o.port);
  const Exchange exchange = make_exchange(o.protocol, o.size);
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < o.threads; ++t) {
    const unsigned share = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(o, address, exchange, share, stop));
  }
  const double cpu_before = process_cpu_seconds();
  const auto start = Clock::now();
  const auto measure_from = start + seconds_to_duration(o.warmup);
  const auto end = measure_from + seconds_to_duration(o.seconds);
  cs::log_info("pingpong: ", o.connections, " connections, ", o.threads, " threads, pipeline ",
               o.pipeline, ", ", o.size, "-byte payloads, ", o.warmup, " s warm-up + ", o.seconds,
               " s");
  {
    std::vector<std::jthread> threads;
    for (auto& worker : workers) {
      threads.emplace_back([&worker, measure_from, end] { worker->run(measure_from, end); });
    }
  }
  const auto finished = Clock::now();
  Counters total;
  for (const auto& worker : workers) total.merge(worker->counters());
  // The window actually measured (shorter when a stop cut it).
  const double measured =
      finished > measure_from ? std::chrono::duration<double>(std::min(finished, end) - measure_from).count()
                              : 0.0;
  JsonLine json;
  json.add("mode", "pingpong")
      .add("protocol", o.protocol == cs::Protocol::shift ? "shift" : "framed")
      .add("connections", o.connections)
      .add("threads", o.threads)
      .add("pipeline", o.pipeline)
      .add("size", std::uint64_t{o.size})
      .add("nodelay", o.nodelay)
      .add("split_writes", o.split_writes)
      .add("seconds", measured)
      .add("requests", total.requests)
      .add("requests_all", total.requests_all)
      .add("rps", measured > 0 ? static_cast<double>(total.requests) / measured : 0.0)
      .add_latencies(total.latency)
      .add("errors", total.wrong_replies + total.disconnects)
      .add("wrong_replies", total.wrong_replies)
      .add("disconnects", total.disconnects)
      .add("connect_failures", total.connect_failures)
      .add("connections_served", total.connections_served)
      .add("loadgen_cpu_s", process_cpu_seconds() - cpu_before)
      .add("stopped_early", stop.stop_requested());
  return json.str();
}

}  // namespace loadgen
