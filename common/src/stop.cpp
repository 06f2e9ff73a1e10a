// Self-pipe stop signal; see stop.hpp.
#include "cs/stop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <system_error>

namespace cs {

namespace {
// The StopSignal the handlers wake; cleared by its destructor. Atomic (and
// lock-free, so safe to read in a handler): a second SIGTERM can arrive
// while the server is exiting, after main's StopSignal is gone, and must
// then find nothing rather than write into a dead stack frame.
std::atomic<StopSignal*> installed_stop{nullptr};
static_assert(std::atomic<StopSignal*>::is_always_lock_free, "read in a signal handler");

extern "C" void on_stop_signal(int signal_number) {
  if (StopSignal* stop = installed_stop.load()) stop->request_stop(signal_number);
}

void set_stop_signals(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}
}  // namespace

StopSignal::StopSignal() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot create the stop pipe");
  }
  read_end_.reset(ends[0]);
  write_end_.reset(ends[1]);
}

StopSignal::~StopSignal() {
  StopSignal* self = this;
  if (installed_stop.compare_exchange_strong(self, nullptr)) {
    // The process is on its way out (every server's StopSignal lives in
    // main): a late SIGINT or SIGTERM is ignored rather than ending it with
    // a signal status after a clean stop.
    set_stop_signals(SIG_IGN);
  }
}

void StopSignal::request_stop(int signal_number) noexcept {
  const int saved_errno = errno;  // a signal handler must preserve errno
  if (!requested_.exchange(true)) {
    signal_.store(signal_number);
    // steady_clock::now() is clock_gettime(CLOCK_MONOTONIC), which POSIX
    // lists as async-signal-safe.
    stop_time_.store(std::chrono::steady_clock::now().time_since_epoch().count());
    const char wake = 1;
    // Non-blocking: the pipe only ever needs one byte in it to be readable.
    [[maybe_unused]] const ssize_t ignored = ::write(write_end_.get(), &wake, 1);
  }
  errno = saved_errno;
}

bool StopSignal::wait(std::chrono::milliseconds duration) const {
  pollfd watched{wait_fd(), POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (!stop_requested()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    ::poll(&watched, 1, static_cast<int>(left.count()));  // EINTR: loop re-checks
  }
  return stop_requested();
}

void install_stop_handlers(StopSignal& stop) {
  installed_stop.store(&stop);
  set_stop_signals(on_stop_signal);

  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGPIPE, &ignore, nullptr);
}

}  // namespace cs
