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

}  // namespace cs
