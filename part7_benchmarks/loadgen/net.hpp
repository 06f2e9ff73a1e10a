// The pieces every mode of the load generator shares: an epoll set, a
// non-blocking connect, the request a mode sends and the reply it must get
// back, the measured-time clock, and the JSON line each run prints.
//
// Every socket here is non-blocking and owned by one event loop (one
// thread); nothing in this file is shared between threads.
#pragma once

#include <netinet/in.h>
#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cs/bytes.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"
#include "histogram.hpp"

namespace loadgen {

using Clock = std::chrono::steady_clock;

inline std::uint64_t nanoseconds_between(Clock::time_point from, Clock::time_point to) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
  return ns < 0 ? 0 : static_cast<std::uint64_t>(ns);
}

inline Clock::duration seconds_to_duration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// The server's address. Throws cs::SetupError unless `host` is an IPv4
// literal.
sockaddr_in ipv4_address(const std::string& host, std::uint16_t port);

// An epoll set. Each registration carries a pointer back to its owner.
// Not thread-safe: one per event loop.
class Epoll {
 public:
  Epoll();  // throws std::system_error
  void add(int fd, std::uint32_t events, void* owner);
  void modify(int fd, std::uint32_t events, void* owner);
  void remove(int fd);  // harmless if fd is not registered
  // Waits up to `timeout` (negative: forever) and returns the events that
  // fired; the span is valid until the next wait(). Retries EINTR.
  std::span<const epoll_event> wait(std::chrono::milliseconds timeout);

 private:
  cs::FileDescriptor fd_;
  std::vector<epoll_event> events_;
};

// Starts a non-blocking, close-on-exec TCP connect to `address`. Returns
// the socket (the connect completes later: wait for EPOLLOUT, then ask
// connect_error()), or an empty descriptor with errno set when it failed at
// once (EMFILE, ECONNREFUSED, ...). `nodelay` sets TCP_NODELAY.
cs::FileDescriptor start_connect(const sockaddr_in& address, bool nodelay);

// The outcome of a connect started by start_connect(): 0 once it
// succeeded, else its errno (SO_ERROR).
int connect_error(int fd);

// The bytes of one request and of the reply it must get: for shift, "^" +
// payload + "$" answered by payload+1 (the greeting "*" comes once per
// connection, before any reply); for framed, header + payload answered by a
// header of the same length + payload+1. The payload is lower-case letters
// ('a'..'y'), so it never holds '^' or '$' and +1 never wraps.
// `header_bytes` is where --split-writes cuts the request: "^" for shift,
// the 4-byte length for framed.
struct Exchange {
  cs::Bytes request;
  cs::Bytes reply;
  std::size_t header_bytes = 0;
};
Exchange make_exchange(cs::Protocol protocol, std::uint32_t payload_size);

inline constexpr cs::Byte shift_greeting = '*';

// Raises the soft RLIMIT_NOFILE to the hard limit (a run may hold tens of
// thousands of sockets). Returns the new soft limit.
std::uint64_t raise_open_file_limit();

// User + system CPU seconds this process has used so far, so a run can
// show whether the generator itself was the bottleneck.
double process_cpu_seconds();

// Builds the one JSON object a run prints: {"key": value, ...}.
class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value);
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, std::uint64_t value);
  JsonLine& add(const std::string& key, std::int64_t value);
  JsonLine& add(const std::string& key, unsigned value) { return add(key, std::uint64_t{value}); }
  JsonLine& add(const std::string& key, int value) { return add(key, std::int64_t{value}); }
  JsonLine& add(const std::string& key, double value);
  JsonLine& add(const std::string& key, bool value);
  // p50_us, p90_us, p99_us, p999_us, max_us, mean_us (microseconds, from a
  // histogram of nanoseconds).
  JsonLine& add_latencies(const LatencyHistogram& histogram);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const std::string& name);
  std::string body_;
};

}  // namespace loadgen
