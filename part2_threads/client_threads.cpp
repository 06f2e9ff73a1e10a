// The thread registry of threaded-server; see client_threads.hpp.
#include "client_threads.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace part2 {

ClientThreads::ClientThreads(unsigned max_clients)
    : max_clients_(max_clients), finished_event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!finished_event_) {
    throw std::system_error(errno, std::generic_category(), "cannot create an eventfd");
  }
}

ClientThreads::~ClientThreads() { join_all(); }

void ClientThreads::finish(Entry self) noexcept {
  {
    std::lock_guard lock(mutex_);
    finished_.splice(finished_.end(), running_, self);
  }
  // After the unlock, so the acceptor, once woken, finds this thread in
  // finished_. Adding 1 to an eventfd cannot fail short of overflowing it.
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t ignored = ::write(finished_event_.get(), &one, sizeof one);
}

void ClientThreads::join_finished() {
  std::list<std::thread> to_join;
  {
    std::lock_guard lock(mutex_);
    to_join.swap(finished_);
  }
  // Outside the lock: a finished thread may still be on its way out of
  // finish(), and other threads must be able to finish meanwhile. Each join
  // returns almost at once, since the body has already returned.
  for (std::thread& thread : to_join) thread.join();
  std::lock_guard lock(mutex_);
  joined_ += to_join.size();
}

void ClientThreads::drain_wakeups() noexcept {
  // Reading an eventfd returns its count and resets it to zero; EAGAIN when
  // it is already zero. Draining before checking the lists cannot lose a
  // wake-up: a thread that finishes after the check writes after it too.
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t ignored = ::read(finished_event_.get(), &count, sizeof count);
}

bool ClientThreads::wait_for_client(int listen_fd, const cs::StopSignal& stop) {
  for (;;) {
    drain_wakeups();
    join_finished();
    const bool slot_free = max_clients_ == 0 || running() < max_clients_;
    if (slot_free == at_limit_) {  // the limit was just reached, or just left
      at_limit_ = !slot_free;
      if (at_limit_) {
        cs::log_info("serving ", max_clients_, " clients (--max-clients): new clients wait "
                     "in the backlog until one leaves");
      } else {
        cs::log_info("a client left: accepting again");
      }
    }
    // poll() skips entries with a negative descriptor: at the limit the
    // listener is left out, so only a finishing thread or a stop wakes us.
    pollfd watched[3] = {{stop.wait_fd(), POLLIN, 0},
                         {finished_event_.get(), POLLIN, 0},
                         {slot_free ? listen_fd : -1, POLLIN, 0}};
    const int rc = ::poll(watched, 3, -1);
    if (rc < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "poll on the listener");
    }
    if (watched[0].revents != 0) return false;
    if (watched[2].revents != 0) return true;
    // Otherwise a thread finished (or EINTR): join it, recheck the limit.
  }
}

void ClientThreads::join_all() {
  for (;;) {
    drain_wakeups();
    join_finished();
    {
      // Both lists, under one lock: a thread may have moved itself from
      // running_ to finished_ since join_finished() looked, and it still
      // needs joining.
      std::lock_guard lock(mutex_);
      if (running_.empty() && finished_.empty()) return;
    }
    pollfd watched{finished_event_.get(), POLLIN, 0};
    ::poll(&watched, 1, -1);  // EINTR: the loop checks again
  }
}

std::size_t ClientThreads::running() const {
  std::lock_guard lock(mutex_);
  return running_.size();
}

std::uint64_t ClientThreads::joined() const {
  std::lock_guard lock(mutex_);
  return joined_;
}

}  // namespace part2
