// The StopSignal -> std::stop_token watcher; see stop_token_bridge.hpp.
#include "stop_token_bridge.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <system_error>

namespace part3 {

StopTokenBridge::StopTokenBridge(const cs::StopSignal& stop) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot create the stop bridge's pipe");
  }
  wake_read_.reset(ends[0]);
  wake_write_.reset(ends[1]);
  watcher_ = std::thread([this, &stop] { watch(stop); });
}

StopTokenBridge::~StopTokenBridge() {
  const char wake = 1;
  // One byte in an empty non-blocking pipe: cannot fail short of a bug, and
  // if it did, join() below would show it by hanging in the tests.
  [[maybe_unused]] const ssize_t ignored = ::write(wake_write_.get(), &wake, 1);
  watcher_.join();
}

void StopTokenBridge::watch(const cs::StopSignal& stop) {
  // Blocks until the stop pipe or the wake pipe is readable; no timeout, so
  // the thread costs nothing while the server runs.
  for (;;) {
    if (cs::wait_for(wake_read_.get(), POLLIN, stop.wait_fd(), std::nullopt) ==
        cs::WaitResult::stop_requested) {
      source_.request_stop();
      return;
    }
    char wake;
    if (::read(wake_read_.get(), &wake, 1) == 1) return;  // the destructor's byte
    // Otherwise poll() itself failed (wait_for reports that as "ready"): wait again.
  }
}

}  // namespace part3
