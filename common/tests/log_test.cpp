// Logging: the line format, and that lines from many threads never splice.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "cs/log.hpp"

namespace cs {
namespace {

// Runs `body` with stderr redirected to a temporary file; returns the text.
template <typename Body>
std::string capture_stderr(Body body) {
  std::FILE* file = std::tmpfile();
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(file), STDERR_FILENO);
  body();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::rewind(file);
  std::string text;
  char chunk[4096];
  while (const std::size_t n = std::fread(chunk, 1, sizeof chunk, file)) text.append(chunk, n);
  std::fclose(file);
  return text;
}

const std::regex line_format(
    R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[tid \d+\] (debug|info|warn|error): .*)");

TEST(Log, LineHasTimeThreadIdAndLevel) {
  set_log_level(LogLevel::info);
  const std::string text = capture_stderr([] { log_info("served ", 3, " clients"); });
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  const std::string line = text.substr(0, text.size() - 1);
  EXPECT_TRUE(std::regex_match(line, line_format)) << line;
  EXPECT_NE(line.find("info: served 3 clients"), std::string::npos) << line;
}

TEST(Log, QuietDropsInfoButKeepsWarnings) {
  set_log_level(LogLevel::warn);
  const std::string text = capture_stderr([] {
    log_info("hidden");
    log_warn("shown");
  });
  set_log_level(LogLevel::info);
  EXPECT_EQ(text.find("hidden"), std::string::npos);
  EXPECT_NE(text.find("warn: shown"), std::string::npos);
}

TEST(Log, LinesFromManyThreadsNeverSplice) {
  set_log_level(LogLevel::info);
  constexpr int threads = 8;
  constexpr int lines_per_thread = 500;
  const std::string payload(300, 'p');  // long lines make splicing likelier
  const std::string text = capture_stderr([&] {
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < lines_per_thread; ++i) log_info("writer ", t, " line ", i, " ", payload);
      });
    }
    for (auto& writer : writers) writer.join();
  });
  std::istringstream lines(text);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    ASSERT_TRUE(std::regex_match(line, line_format)) << "spliced line: " << line.substr(0, 120);
    ASSERT_NE(line.find(" " + payload), std::string::npos);
  }
  EXPECT_EQ(count, threads * lines_per_thread);
}

// Counts the lines of `text` that contain `needle`.
int count_lines_with(const std::string& text, const std::string& needle) {
  std::istringstream lines(text);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) count += line.find(needle) != std::string::npos ? 1 : 0;
  return count;
}

TEST(RepeatLimiter, FirstGoesThroughTheRestOfTheIntervalIsCountedThenReported) {
  set_log_level(LogLevel::warn);
  RepeatLimiter limiter(std::chrono::milliseconds(300));
  const std::string burst = capture_stderr([&] {
    for (int i = 0; i < 50; ++i) log_warn_limited(limiter, "accept: out of descriptors");
  });
  EXPECT_EQ(count_lines_with(burst, "accept: out of descriptors"), 1) << burst;
  EXPECT_EQ(burst.find(" more in the last "), std::string::npos) << burst;

  // Once the interval is over, the next one goes through with the count.
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  const std::string next = capture_stderr([&] { log_warn_limited(limiter, "accept: out of descriptors"); });
  set_log_level(LogLevel::info);
  EXPECT_EQ(count_lines_with(next, "accept: out of descriptors (49 more in the last 300 ms)"), 1)
      << next;
}

TEST(RepeatLimiter, ZeroIntervalLetsEveryOneThrough) {
  set_log_level(LogLevel::warn);
  RepeatLimiter limiter(std::chrono::milliseconds(0));  // every one goes through
  const std::string text = capture_stderr([&] {
    log_warn_limited(limiter, "x");
    log_warn_limited(limiter, "y");
  });
  set_log_level(LogLevel::info);
  EXPECT_EQ(count_lines_with(text, "warn: x"), 1) << text;
  EXPECT_EQ(count_lines_with(text, "warn: y"), 1) << text;
  EXPECT_EQ(RepeatLimiter().interval(), default_repeat_interval);
}

TEST(RepeatLimiter, ManyThreadsLetExactlyOneThrough) {
  RepeatLimiter limiter(std::chrono::hours(1));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) admitted += limiter.admit() ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), 1);
}

}  // namespace
}  // namespace cs
