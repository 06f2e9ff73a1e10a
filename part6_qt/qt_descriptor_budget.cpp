// The descriptor budget of the Qt servers with event-loop threads; see
// qt_descriptor_budget.hpp.
#include "qt_descriptor_budget.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <climits>
#include <optional>

#include "qt_listener.hpp"

namespace part6 {

namespace {

// RLIMIT_NOFILE's soft limit, or nullopt when there is none to respect.
std::optional<rlim_t> open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::nullopt;
  }
  return limit.rlim_cur;
}

}  // namespace

DescriptorBudget::DescriptorBudget(int event_loop_threads) {
  const std::optional<rlim_t> limit = open_file_limit();
  if (!limit) {
    most_clients_ = INT_MAX;
    cs::log_info("RLIMIT_NOFILE is unlimited: no limit on clients at once");
    return;
  }
  const rlim_t reserved = descriptors_reserved;
  const rlim_t usable = *limit > reserved ? *limit - reserved : 0;
  const bool thread_each = event_loop_threads == unlimited_threads ||
                           static_cast<rlim_t>(event_loop_threads) >= usable / 2;
  // Two per client (socket, eventfd) while every client may have a thread;
  // one per client beyond a fixed set of threads' eventfds otherwise.
  const rlim_t most = thread_each ? usable / 2 : usable - static_cast<rlim_t>(event_loop_threads);
  most_clients_ = static_cast<int>(std::clamp<rlim_t>(most, 1, INT_MAX));
  if (thread_each) {
    cs::log_info("at most ", most_clients_, " clients at once within RLIMIT_NOFILE ", *limit,
                 ": each needs its socket and its thread's eventfd, and ", reserved,
                 " are kept for the rest");
  } else {
    cs::log_info("at most ", most_clients_, " clients at once within RLIMIT_NOFILE ", *limit,
                 ": each needs its socket, each of the ", event_loop_threads,
                 " threads' event loops an eventfd, and ", reserved, " are kept for the rest");
  }
}

int DescriptorBudget::threads_within(int threads) const {
  if (threads <= most_clients_) return threads;
  cs::log_warn("running ", most_clients_, " threads instead of ", threads,
               ": RLIMIT_NOFILE holds no more clients, and an idle thread keeps its eventfd");
  return most_clients_;
}

bool DescriptorBudget::admit(qintptr descriptor) {
  // Only the accepting thread adds, so the check and the add cannot race;
  // release() may subtract meanwhile, which only leaves more room.
  if (admitted_.load(std::memory_order_acquire) >= most_clients_) {
    cs::log_warn_limited(refusals_, "refusing a client: ", most_clients_,
                         " clients is the most that RLIMIT_NOFILE allows",
                         " (raise it with ulimit -n)");
    close_descriptor(descriptor);
    return false;
  }
  admitted_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

int DescriptorBudget::release() { return admitted_.fetch_sub(1, std::memory_order_acq_rel) - 1; }

}  // namespace part6
