// CPU work for --work-us; see cpu_work.hpp.
#include "cs/cpu_work.hpp"

#include <atomic>
#include <cstdint>

#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

namespace cs {

namespace {

// Where each call's result goes, so the compiler cannot prove the arithmetic
// unused and remove it. Relaxed: no thread ever reads it for a reason.
std::atomic<std::uint64_t> work_sink{0};

std::chrono::nanoseconds steady_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::steady_clock::now().time_since_epoch());
}

}  // namespace

std::chrono::nanoseconds thread_cpu_time() {
#ifdef _WIN32
  FILETIME creation, exit, kernel, user;
  if (GetThreadTimes(GetCurrentThread(), &creation, &exit, &kernel, &user) == 0) {
    return steady_now();
  }
  const auto ticks = [](const FILETIME& time) {
    return (static_cast<std::uint64_t>(time.dwHighDateTime) << 32) | time.dwLowDateTime;
  };
  // FILETIME counts 100-nanosecond intervals.
  return std::chrono::nanoseconds(static_cast<std::int64_t>((ticks(kernel) + ticks(user)) * 100));
#else
  timespec now{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0) return steady_now();
  return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
#endif
}

void spend_cpu(std::chrono::microseconds work) {
  if (work <= std::chrono::microseconds::zero()) return;
  const std::chrono::nanoseconds start = thread_cpu_time();
  // A linear congruential generator: cheap, dependent steps that no compiler
  // folds into a closed form. The clock is read every 4096 steps (a few
  // microseconds), so reading it costs little and the overshoot stays small.
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  do {
    for (int step = 0; step < 4096; ++step) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
    }
  } while (thread_cpu_time() - start < work);
  work_sink.fetch_add(state, std::memory_order_relaxed);
}

}  // namespace cs
