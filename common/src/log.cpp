// Line-atomic stderr logging; see log.hpp.
#include "cs/log.hpp"

#ifdef _WIN32
#include <io.h>  // _get_osfhandle
#include <windows.h>
#else
#include <sys/syscall.h>
#include <unistd.h>
#endif

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
#ifdef _WIN32
  gmtime_s(&parts, &seconds);  // the thread-safe gmtime, with its arguments swapped
#else
  gmtime_r(&seconds, &parts);
#endif
  char text[64];  // room for any int the compiler can imagine in each field
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(millis));
  return text;
}

// The OS thread id (as top and /proc, or Process Explorer, show it), not
// std::thread::id, so a log line can be matched with what the OS tools report.
unsigned long os_thread_id() {
#ifdef _WIN32
  return ::GetCurrentThreadId();
#else
  return static_cast<unsigned long>(::syscall(SYS_gettid));
#endif
}

// Writes all of `line` to stderr with as few writes as the OS allows.
void write_stderr(std::string_view line) {
#ifdef _WIN32
  // WriteFile on the handle behind the C runtime's descriptor 2, not
  // _write(2, ...): the CRT's text mode would turn each \n into \r\n.
  const HANDLE handle = reinterpret_cast<HANDLE>(::_get_osfhandle(2));
  if (handle == INVALID_HANDLE_VALUE) return;
  std::size_t written = 0;
  while (written < line.size()) {
    DWORD n = 0;
    if (!::WriteFile(handle, line.data() + written, static_cast<DWORD>(line.size() - written), &n,
                     nullptr) || n == 0) {
      break;  // stderr is gone; nothing better to do with a log line
    }
    written += n;
  }
#else
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stderr is gone; nothing better to do with a log line
    written += static_cast<std::size_t>(n);
  }
#endif
}

}  // namespace

void set_log_level(LogLevel level) { minimum_level.store(level); }

bool log_enabled(LogLevel level) { return level >= minimum_level.load(std::memory_order_relaxed); }

void write_log_line(LogLevel level, std::string_view message) {
  std::string line = utc_timestamp();
  line += " [tid ";
  line += std::to_string(os_thread_id());
  line += "] ";
  line += level_name(level);
  line += ": ";
  line += message;
  line += '\n';

  const int saved_errno = errno;  // logging must not disturb the caller's errno
#ifdef _WIN32
  const DWORD saved_error = ::GetLastError();  // nor its GetLastError() on Windows
#endif
  {
    std::lock_guard lock(write_mutex);
    write_stderr(line);
  }
#ifdef _WIN32
  ::SetLastError(saved_error);
#endif
  errno = saved_errno;
}

std::optional<std::uint64_t> RepeatLimiter::admit() {
  const auto now = std::chrono::steady_clock::now();
  const std::lock_guard lock(mutex_);
  if (next_allowed_ && now < *next_allowed_) {
    ++dropped_;
    return std::nullopt;
  }
  next_allowed_ = now + interval_;
  const std::uint64_t dropped = dropped_;
  dropped_ = 0;
  return dropped;
}

}  // namespace cs
