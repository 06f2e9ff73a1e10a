// Waiting for SIGINT/SIGTERM in standard C++ only, so that the servers of
// this folder build unchanged for Windows: common's cs::StopSignal is a
// POSIX self-pipe, and the completion-port servers need no descriptor to
// poll, only a main thread that knows when to call cpf::Server::stop().
//
// A signal handler may do almost nothing portably: store to a lock-free
// atomic. Nothing it may do wakes a sleeping thread on every platform, so
// the main thread checks the flag a few times per second. That costs
// nothing measurable and delays the stop by at most one check interval.
// On Windows the C runtime turns Ctrl-C into SIGINT; SIGTERM never arrives
// there (a Windows process is ended with TerminateProcess, which no handler
// sees).
#pragma once

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "cs/log.hpp"
#include "cs/options.hpp"

namespace part4 {

namespace detail {
inline std::atomic<int> stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler may only touch lock-free atomics");
extern "C" inline void record_stop_signal(int signal_number) { stop_signal.store(signal_number); }
}  // namespace detail

// Routes SIGINT and SIGTERM to wait_for_stop_signal(). Call once, from
// main(), before starting the server. Not thread-safe (process-wide).
inline void install_stop_handlers() {
  std::signal(SIGINT, detail::record_stop_signal);
  std::signal(SIGTERM, detail::record_stop_signal);
}

// Blocks until SIGINT or SIGTERM arrives; returns its number. Call from the
// thread that started the server, then call stop() on it.
inline int wait_for_stop_signal() {
  constexpr auto check_interval = std::chrono::milliseconds(20);
  while (detail::stop_signal.load() == 0) std::this_thread::sleep_for(check_interval);
  return detail::stop_signal.load();
}

// The end of every server's run_server in this folder, once it has started
// `server`: announce it with the line tests and the simulator wait for
// (docs/conventions.md), wait for SIGINT or SIGTERM, stop it within the
// grace period, and log its summary (even with --quiet). `Server` is a
// cpf::Server with a stats() of cs::ServerStats.
template <typename Server>
void serve_until_stop_signal(Server& server, const cs::ServerOptions& options) {
  std::cout << "listening on " << server.local_address() << std::endl;  // endl flushes
  const int signal_number = wait_for_stop_signal();
  cs::log_info("signal ", signal_number, ": stopping; open connections get ",
               options.shutdown_grace.count(), " ms to finish");
  server.stop(options.shutdown_grace);
  cs::write_log_line(cs::LogLevel::info, "stopped: " + server.stats().summary());
}

}  // namespace part4
