// Line-atomic stderr logging; see log.hpp.
#include "cs/log.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace cs {

namespace {

std::atomic<LogLevel> minimum_level{LogLevel::info};
std::mutex write_mutex;  // guards the write(2) so one line is one write

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}

std::string utc_timestamp() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t seconds = system_clock::to_time_t(now);
  const auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[64];  // room for any int the compiler can imagine in each field
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(millis));
  return text;
}

}  // namespace

void set_log_level(LogLevel level) { minimum_level.store(level); }

bool log_enabled(LogLevel level) { return level >= minimum_level.load(std::memory_order_relaxed); }

void write_log_line(LogLevel level, std::string_view message) {
  // The kernel thread id (as top and /proc show it), not std::thread::id,
  // so a log line can be matched with what the OS tools report.
  const long tid = ::syscall(SYS_gettid);
  std::string line = utc_timestamp();
  line += " [tid ";
  line += std::to_string(tid);
  line += "] ";
  line += level_name(level);
  line += ": ";
  line += message;
  line += '\n';

  const int saved_errno = errno;  // logging must not disturb the caller's errno
  std::lock_guard lock(write_mutex);
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stderr is gone; nothing better to do with a log line
    written += static_cast<std::size_t>(n);
  }
  errno = saved_errno;
}

}  // namespace cs
