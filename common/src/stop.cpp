// Self-pipe stop signal; see stop.hpp.
#include "cs/stop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <system_error>

namespace cs {

namespace {
StopSignal* installed_stop = nullptr;  // written once before handlers exist

extern "C" void on_stop_signal(int signal_number) {
  if (installed_stop != nullptr) installed_stop->request_stop(signal_number);
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
  installed_stop = &stop;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);

  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGPIPE, &ignore, nullptr);
}

}  // namespace cs
