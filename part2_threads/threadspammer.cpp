// threadspammer - what a thread per client costs, measured: starts N threads
// that each sleep and wake every --period-ms for --seconds (an idle client's
// thread does little more), then reports the memory and CPU they took.
//
// Memory is read from /proc/self/status while every thread is alive: VmRSS
// (resident: the pages the stacks really touched) and VmSize (virtual: every
// stack's full reservation, 8 MiB each by default, from RLIMIT_STACK). CPU
// and context switches come from getrusage(RUSAGE_SELF), which adds up every
// thread of the process; how late the wake-ups came shows the scheduler
// falling behind. --stack-kb shrinks the stacks to show where the virtual
// memory went.
//
// Output, on stdout: one JSON line (for tools), then one line for people.
//
// Run:  threadspammer --threads 10000 --period-ms 50 --seconds 5 [--stack-kb 64]
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "cs/options.hpp"

namespace {

constexpr unsigned max_threads = 20000;      // stays below Linux's usual per-process limits
constexpr double max_seconds = 60.0;
constexpr unsigned max_period_ms = 10'000;
constexpr unsigned max_stack_kb = 64 * 1024;  // 64 MiB

struct Settings {
  unsigned threads = 1000;
  unsigned period_ms = 50;
  double seconds = 5.0;
  unsigned stack_kb = 0;  // 0: the default (RLIMIT_STACK, usually 8 MiB)
};

// Shared by every sleeper.
struct Schedule {
  std::chrono::nanoseconds period{};  // set before the threads start
  long ticks = 0;                     // wake-ups per thread; set before the threads start
  std::atomic<std::uint64_t> wakeups{0};
  // How late the wake-ups came, after the time asked for: the scheduler's
  // delay, which grows when too many threads want a core at once.
  std::atomic<std::int64_t> total_lateness_ns{0};
  std::atomic<std::int64_t> max_lateness_ns{0};
  std::atomic<std::uint64_t> late_by_a_period{0};  // wake-ups that missed the next tick too

  // The starting gate: no thread sleeps before all were created, so the
  // ticks of the last one are not spent catching up while the first ones
  // are already running.
  std::mutex mutex;
  std::condition_variable gate;
  bool open = false;  // guarded by mutex
  timespec start{};   // guarded by mutex until open; CLOCK_MONOTONIC time of tick 0
};

timespec add(timespec t, std::chrono::nanoseconds d) {
  const auto total = std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec) + d;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(total);
  return {static_cast<time_t>(secs.count()), static_cast<long>((total - secs).count())};
}

// A sleeper: wakes at start + k * period for k = 1..ticks. Absolute
// deadlines, so the wake-ups do not drift and all threads wake together, the
// worst case for the scheduler (and what many idle clients sending
// heartbeats look like).
void* sleeper(void* raw_schedule) {
  auto* schedule = static_cast<Schedule*>(raw_schedule);
  timespec start;
  {
    std::unique_lock lock(schedule->mutex);
    schedule->gate.wait(lock, [schedule] { return schedule->open; });
    start = schedule->start;
  }
  std::uint64_t woke = 0;
  std::uint64_t late = 0;
  std::int64_t total_lateness = 0;
  std::int64_t max_lateness = 0;
  const std::int64_t period = schedule->period.count();
  for (long k = 1; k <= schedule->ticks; ++k) {
    const timespec when = add(start, schedule->period * k);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, nullptr) == EINTR) {
    }
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const std::int64_t lateness =
        (now.tv_sec - when.tv_sec) * 1'000'000'000LL + (now.tv_nsec - when.tv_nsec);
    total_lateness += lateness;
    if (lateness > max_lateness) max_lateness = lateness;
    if (lateness >= period) ++late;
    ++woke;
  }
  // One update of the shared totals per thread, not per wake-up: the
  // measurement must not become the contention it measures.
  schedule->wakeups.fetch_add(woke, std::memory_order_relaxed);
  schedule->late_by_a_period.fetch_add(late, std::memory_order_relaxed);
  schedule->total_lateness_ns.fetch_add(total_lateness, std::memory_order_relaxed);
  std::int64_t seen = schedule->max_lateness_ns.load(std::memory_order_relaxed);
  while (max_lateness > seen &&
         !schedule->max_lateness_ns.compare_exchange_weak(seen, max_lateness,
                                                          std::memory_order_relaxed)) {
  }
  return nullptr;
}

struct Memory {
  long rss_kb = -1, size_kb = -1, hwm_kb = -1, peak_kb = -1;
};

// Reads VmRSS, VmSize, VmHWM (peak RSS) and VmPeak (peak size), in kB.
Memory read_memory() {
  Memory memory;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    long* field = nullptr;
    if (line.rfind("VmRSS:", 0) == 0) field = &memory.rss_kb;
    if (line.rfind("VmSize:", 0) == 0) field = &memory.size_kb;
    if (line.rfind("VmHWM:", 0) == 0) field = &memory.hwm_kb;
    if (line.rfind("VmPeak:", 0) == 0) field = &memory.peak_kb;
    if (field != nullptr) std::istringstream(line.substr(line.find(':') + 1)) >> *field;
  }
  return memory;
}

double seconds_of(const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; }

std::string mebibytes(long kb) {
  char text[32];
  if (kb >= 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1f GiB", kb / (1024.0 * 1024.0));
  } else {
    std::snprintf(text, sizeof text, "%.1f MiB", kb / 1024.0);
  }
  return text;
}

int run(const Settings& settings) {
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  Schedule schedule;
  schedule.period = std::chrono::milliseconds(settings.period_ms);
  schedule.ticks = static_cast<long>(settings.seconds * 1000.0 / settings.period_ms);
  if (schedule.ticks < 1) schedule.ticks = 1;

  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  if (settings.stack_kb != 0) {
    const int error = pthread_attr_setstacksize(&attributes, std::size_t{settings.stack_kb} * 1024);
    if (error != 0) {
      std::cerr << "threadspammer: error: --stack-kb " << settings.stack_kb << ": "
                << std::strerror(error) << " (the minimum is " << PTHREAD_STACK_MIN / 1024
                << ")\n";
      return 2;
    }
  }
  std::size_t stack_bytes = 0;
  pthread_attr_getstacksize(&attributes, &stack_bytes);

  rusage at_launch{};
  getrusage(RUSAGE_SELF, &at_launch);
  const auto launch_time = std::chrono::steady_clock::now();

  std::vector<pthread_t> threads;
  threads.reserve(settings.threads);
  int create_error = 0;
  for (unsigned i = 0; i < settings.threads; ++i) {
    pthread_t thread;
    create_error = pthread_create(&thread, &attributes, sleeper, &schedule);
    if (create_error != 0) break;  // EAGAIN: a limit was reached; measure what started
    threads.push_back(thread);
  }
  pthread_attr_destroy(&attributes);
  if (create_error != 0) {
    std::cerr << "threadspammer: pthread_create failed after " << threads.size()
              << " threads: " << std::strerror(create_error) << "\n";
  }

  // Creating the threads is a cost of its own, reported apart from the
  // steady state that follows.
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const auto wall_start = std::chrono::steady_clock::now();
  const double launch_wall = std::chrono::duration<double>(wall_start - launch_time).count();
  const double launch_cpu = seconds_of(before.ru_utime) - seconds_of(at_launch.ru_utime) +
                            seconds_of(before.ru_stime) - seconds_of(at_launch.ru_stime);
  {
    std::lock_guard lock(schedule.mutex);
    clock_gettime(CLOCK_MONOTONIC, &schedule.start);
    schedule.open = true;
  }
  schedule.gate.notify_all();

  // Every thread is alive until its last tick: this is the peak, and /proc
  // shows it.
  const Memory alive = read_memory();
  for (pthread_t thread : threads) pthread_join(thread, nullptr);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  const Memory end = read_memory();

  // Everything below is the steady state: from the opening of the gate to
  // the last join.
  const double user = seconds_of(after.ru_utime) - seconds_of(before.ru_utime);
  const double sys = seconds_of(after.ru_stime) - seconds_of(before.ru_stime);
  const double one_core_percent = wall > 0 ? 100.0 * (user + sys) / wall : 0.0;
  const double machine_percent = one_core_percent / static_cast<double>(cores > 0 ? cores : 1);
  const long voluntary = after.ru_nvcsw - before.ru_nvcsw;
  const long involuntary = after.ru_nivcsw - before.ru_nivcsw;
  const std::uint64_t wakeups = schedule.wakeups.load();
  const double mean_lateness_ms =
      wakeups > 0 ? static_cast<double>(schedule.total_lateness_ns.load()) / 1e6 / wakeups : 0.0;
  const double max_lateness_ms = static_cast<double>(schedule.max_lateness_ns.load()) / 1e6;
  const std::uint64_t late_by_a_period = schedule.late_by_a_period.load();

  char json[1536];
  std::snprintf(
      json, sizeof json,
      "{\"threads_requested\": %u, \"threads_started\": %zu, \"create_error\": %s%s%s, "
      "\"stack_kb\": %zu, \"period_ms\": %u, \"seconds\": %.3f, \"start_seconds\": %.3f, "
      "\"start_cpu_seconds\": %.3f, \"wall_seconds\": %.3f, "
      "\"wakeups\": %" PRIu64 ", \"mean_lateness_ms\": %.3f, \"max_lateness_ms\": %.3f, "
      "\"wakeups_late_by_a_period\": %" PRIu64 ", \"vm_rss_kb\": %ld, \"vm_size_kb\": %ld, \"vm_hwm_kb\": %ld, "
      "\"vm_peak_kb\": %ld, \"cpu_user_seconds\": %.3f, \"cpu_sys_seconds\": %.3f, "
      "\"cpu_percent_of_one_core\": %.1f, \"cpu_percent_of_machine\": %.1f, \"cores\": %ld, "
      "\"voluntary_context_switches\": %ld, \"involuntary_context_switches\": %ld}",
      settings.threads, threads.size(), create_error ? "\"" : "",
      create_error ? std::strerror(create_error) : "null", create_error ? "\"" : "",
      stack_bytes / 1024, settings.period_ms, settings.seconds, launch_wall, launch_cpu, wall,
      wakeups, mean_lateness_ms, max_lateness_ms, late_by_a_period, alive.rss_kb,
      alive.size_kb, end.hwm_kb, end.peak_kb, user, sys, one_core_percent, machine_percent, cores,
      voluntary, involuntary);
  std::cout << json << "\n";

  char line[1024];
  std::snprintf(
      line, sizeof line,
      "started %zu of %u threads (%zu KiB stacks) in %.2f s; each woke every %u ms for %.1f s "
      "(took %.2f s): resident %s, virtual %s; CPU %.2f s (%.2f user + %.2f sys) = %.0f%% of "
      "one core, %.0f%% of %ld cores; %ld voluntary + %ld involuntary context switches; "
      "wake-ups %.2f ms late on average, %.1f ms at worst, %" PRIu64 " of %" PRIu64
      " a whole period late",
      threads.size(), settings.threads, stack_bytes / 1024, launch_wall, settings.period_ms,
      settings.seconds, wall, mebibytes(alive.rss_kb).c_str(), mebibytes(alive.size_kb).c_str(),
      user + sys, user, sys, one_core_percent, machine_percent, cores, voluntary, involuntary,
      mean_lateness_ms, max_lateness_ms, late_by_a_period, wakeups);
  std::cout << line << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  CLI::App app("Start N sleeping threads and report what they cost", "threadspammer");
  app.add_option("--threads", settings.threads, "Threads to start")
      ->check(CLI::Range(1u, max_threads))
      ->capture_default_str();
  app.add_option("--period-ms", settings.period_ms, "Each thread wakes this often")
      ->check(CLI::Range(1u, max_period_ms))
      ->capture_default_str();
  app.add_option("--seconds", settings.seconds, "How long the threads run")
      ->check(CLI::Range(0.01, max_seconds))
      ->capture_default_str();
  app.add_option("--stack-kb", settings.stack_kb,
                 "Stack size of each thread in KiB; 0 = the default (ulimit -s)")
      ->check(CLI::Range(0u, max_stack_kb))
      ->capture_default_str();
  cs::parse_or_exit(app, argc, argv);  // --help: exit 0; a bad argument: exit 2
  return run(settings);
}
