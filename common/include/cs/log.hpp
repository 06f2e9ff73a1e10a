// Line-atomic logging to stderr, with time and thread id.
//
//   cs::log_info("accepted ", peer, " (", active, " active)");
//
// Each call formats one whole line and writes it with a single write(2)
// under a mutex, so lines from many threads never splice together, even
// when stderr is a file or a pipe shared with other processes (a write of
// up to PIPE_BUF bytes to a pipe is atomic).
// Format: 2026-11-23T15:04:05.123Z [tid 4242] info: message
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace cs {

enum class LogLevel { debug, info, warn, error };

// Lines below `level` are dropped. Default info; --quiet sets warn.
// Thread-safe, but meant to be called once at start-up.
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

// Writes one formatted line (the building block of the helpers below).
void write_log_line(LogLevel level, std::string_view message);

template <typename... Parts>
void log(LogLevel level, const Parts&... parts) {
  if (!log_enabled(level)) return;  // skip formatting for dropped lines
  std::ostringstream message;
  (message << ... << parts);
  write_log_line(level, message.str());
}

template <typename... Parts> void log_debug(const Parts&... parts) { log(LogLevel::debug, parts...); }
template <typename... Parts> void log_info(const Parts&... parts) { log(LogLevel::info, parts...); }
template <typename... Parts> void log_warn(const Parts&... parts) { log(LogLevel::warn, parts...); }
template <typename... Parts> void log_error(const Parts&... parts) { log(LogLevel::error, parts...); }

// A warning that may repeat many times a second, at most one line per
// interval.
//
// A condition that persists (accept failing with EMFILE for as long as the
// descriptors are used up) would otherwise write the same line every time
// the server retries, ten times a second, and bury every other line; --quiet
// does not help, since it is a warning. A RepeatLimiter lets the first
// occurrence through at once, counts the ones that follow within the
// interval, and lets the next one after it through with that count:
//
//   warn: accept: Too many open files; retrying in 100 ms
//   warn: accept: Too many open files; retrying in 100 ms (49 more in the last 5 s)
//
// One limiter per kind of warning (a member or a static next to the call).
// Thread-safe.
inline constexpr std::chrono::milliseconds default_repeat_interval{5000};

class RepeatLimiter {
 public:
  explicit RepeatLimiter(std::chrono::milliseconds interval = default_repeat_interval)
      : interval_(interval) {}

  // nullopt: drop this occurrence. Otherwise let it through; the value is
  // how many were dropped since the last one let through.
  std::optional<std::uint64_t> admit();

  std::chrono::milliseconds interval() const { return interval_; }

 private:
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::optional<std::chrono::steady_clock::time_point> next_allowed_;
  std::uint64_t dropped_ = 0;
};

template <typename... Parts>
void log_warn_limited(RepeatLimiter& limiter, const Parts&... parts) {
  if (!log_enabled(LogLevel::warn)) return;
  const auto dropped = limiter.admit();
  if (!dropped) return;
  if (*dropped == 0) {
    log_warn(parts...);
  } else {
    const auto ms = limiter.interval().count();
    if (ms % 1000 == 0) {
      log_warn(parts..., " (", *dropped, " more in the last ", ms / 1000, " s)");
    } else {
      log_warn(parts..., " (", *dropped, " more in the last ", ms, " ms)");
    }
  }
}

}  // namespace cs
