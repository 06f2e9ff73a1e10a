// Implementation of net.hpp.
#include "net.hpp"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "cs/frame_codec.hpp"

namespace loadgen {

sockaddr_in ipv4_address(const std::string& host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    throw cs::SetupError("--host must be an IPv4 address such as 127.0.0.1, not '" + host + "'");
  }
  return address;
}

Epoll::Epoll() : fd_(::epoll_create1(EPOLL_CLOEXEC)), events_(256) {
  if (!fd_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
}

void Epoll::add(int fd, std::uint32_t events, void* owner) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = owner;
  if (::epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(ADD)");
  }
}

void Epoll::modify(int fd, std::uint32_t events, void* owner) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = owner;
  if (::epoll_ctl(fd_.get(), EPOLL_CTL_MOD, fd, &event) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(MOD)");
  }
}

void Epoll::remove(int fd) { ::epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

std::span<const epoll_event> Epoll::wait(std::chrono::milliseconds timeout) {
  for (;;) {
    const int n = ::epoll_wait(fd_.get(), events_.data(), static_cast<int>(events_.size()),
                               static_cast<int>(timeout.count()));
    if (n >= 0) return {events_.data(), static_cast<std::size_t>(n)};
    if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
    // A signal (SIGTERM) arrived: the caller's next look at the stop fd
    // sees it, so returning nothing is as good as waiting again.
    return {};
  }
}

cs::FileDescriptor start_connect(const sockaddr_in& address, bool nodelay) {
  cs::FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  if (nodelay && !cs::set_nodelay(fd.get())) return cs::FileDescriptor();
  int result;
  do {
    result = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  } while (result != 0 && errno == EINTR);
  if (result != 0 && errno != EINPROGRESS) {
    const int saved = errno;
    fd.reset();
    errno = saved;
  }
  return fd;
}

int connect_error(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
  return error;
}

Exchange make_exchange(cs::Protocol protocol, std::uint32_t payload_size) {
  cs::Bytes payload(payload_size);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<cs::Byte>('a' + i % 25);
  cs::Bytes shifted(payload);
  for (cs::Byte& b : shifted) ++b;
  Exchange exchange;
  if (protocol == cs::Protocol::shift) {
    exchange.request.push_back('^');
    exchange.request.insert(exchange.request.end(), payload.begin(), payload.end());
    exchange.request.push_back('$');
    exchange.reply = shifted;
    exchange.header_bytes = 1;
  } else {
    cs::append_frame(payload, exchange.request);
    cs::append_frame(shifted, exchange.reply);
    exchange.header_bytes = cs::frame_header_length;
  }
  return exchange;
}

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void JsonLine::key(const std::string& name) {
  if (!body_.empty()) body_ += ", ";
  body_ += "\"" + name + "\": ";
}

JsonLine& JsonLine::add(const std::string& name, const std::string& value) {
  key(name);
  body_ += '"';
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      body_ += '\\';
      body_ += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      body_ += escaped;
    } else {
      body_ += c;
    }
  }
  body_ += '"';
  return *this;
}

JsonLine& JsonLine::add(const std::string& name, std::uint64_t value) {
  key(name);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::add(const std::string& name, std::int64_t value) {
  key(name);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::add(const std::string& name, double value) {
  key(name);
  if (!std::isfinite(value)) {
    body_ += "null";  // JSON has no NaN or infinity
    return *this;
  }
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", value);
  body_ += text;
  return *this;
}

JsonLine& JsonLine::add(const std::string& name, bool value) {
  key(name);
  body_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::add_latencies(const LatencyHistogram& h) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  add("p50_us", us(h.percentile(50)));
  add("p90_us", us(h.percentile(90)));
  add("p99_us", us(h.percentile(99)));
  add("p999_us", us(h.percentile(99.9)));
  add("max_us", us(h.max()));
  add("mean_us", h.mean() / 1000.0);
  return *this;
}

}  // namespace loadgen
