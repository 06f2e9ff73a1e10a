// The shared accept loop; see acceptor.hpp.
#include "cs/acceptor.hpp"

#include <poll.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "cs/log.hpp"

namespace cs {

std::optional<Client> accept_next(int listen_fd, const StopSignal& stop) {
  // One limiter for every acceptor of the process: while descriptors are
  // used up, every accepting thread fails the same way.
  static RepeatLimiter exhausted_warnings;
  for (;;) {
    // Waiting in poll() rather than in accept() is what lets a stop request
    // wake an idle server: the stop pipe is in the same poll set.
    if (wait_for(listen_fd, POLLIN, stop.wait_fd(), std::nullopt) != WaitResult::ready) {
      return std::nullopt;
    }
    Accepted accepted = accept_client(listen_fd);
    switch (accepted.kind) {
      case Accepted::Kind::client:
        set_nodelay(accepted.fd.get());
        return Client{std::move(accepted.fd), std::move(accepted.peer)};
      case Accepted::Kind::retry:
        continue;
      case Accepted::Kind::exhausted:
        log_warn_limited(exhausted_warnings, "accept: ", std::strerror(accepted.error),
                         "; retrying in ", accept_backoff.count(), " ms");
        stop.wait(accept_backoff);
        continue;
      case Accepted::Kind::fatal:
        throw std::runtime_error(std::string("accept failed: ") + std::strerror(accepted.error));
    }
  }
}

}  // namespace cs
