// The command line every server shares (docs/conventions.md):
//
//   NAME [PORT] [--port N] [--host ADDR] [--protocol shift|framed]
//        [--backlog N] [--idle-timeout-ms N] [--request-timeout-ms N]
//        [--shutdown-grace-ms N] [--max-frame BYTES] [--work-us N] [--quiet]
//   plus [--threads N] and [--max-clients N] for the servers that use them.
//
// Parsing is CLI11's (Debian's libcli11-dev): --help, range checks and clear
// messages for free. A server adds its own options through app() before
// parse(). An option a server does not use is not offered at all, so it is
// never silently ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cs/backlog.hpp"  // default_backlog: SOMAXCONN, and why
#include "cs/connection.hpp"
#include "cs/session.hpp"

// CLI11 is included only where options are registered (options.cpp and the
// servers that call app()): it is a large header, and most servers need only
// parse(). A file that calls app() includes <CLI/CLI.hpp> itself.
namespace CLI {
class App;
}  // namespace CLI

namespace cs {

inline constexpr std::uint16_t default_port = 9090;  // the original series' port
inline constexpr std::uint32_t largest_max_frame = 1u << 30;  // 1 GiB (default_max_frame: session.hpp)
// --work-us at most 1 s per request: enough to make any design's staircase
// visible, and a typing slip (an extra zero or three) is refused rather than
// freezing the server for minutes per message.
inline constexpr long long largest_work_us = 1'000'000;

struct ServerOptions {
  // Loopback by default: a tutorial server should not be reachable from the
  // network unless asked (--host 0.0.0.0 or --host ::).
  std::string host = "127.0.0.1";
  std::uint16_t port = default_port;
  Protocol protocol = Protocol::shift;
  // The --protocol word as given; differs from `protocol` only in servers
  // that speak a protocol of their own (see CommandLine::speak_only).
  std::string protocol_name = "shift";
  int backlog = default_backlog;
  unsigned threads = 0;      // set by add_threads_option(); 0 = not offered
  unsigned max_clients = 0;  // set by add_max_clients_option(); 0 = no limit
  std::chrono::milliseconds idle_timeout{0};      // 0 = never
  std::chrono::milliseconds request_timeout{0};   // 0 = never; see cs/request_timer.hpp
  std::chrono::milliseconds shutdown_grace{2000};
  std::uint32_t max_frame = default_max_frame;
  std::chrono::microseconds work{0};  // CPU per request, see cs/cpu_work.hpp; 0 = none
  bool quiet = false;

  SessionLimits session_limits() const { return {max_frame, work}; }
  ConnectionPolicy connection_policy() const {
    return {idle_timeout, shutdown_grace, request_timeout};
  }
};

// The CPUs this process may run on: the default of every --threads that
// means "one per core". On Linux sched_getaffinity() counts them, since
// std::thread::hardware_concurrency() counts every CPU of the machine:
// started with `taskset -c 0`, or in a container given one CPU, a server
// with a thread per machine CPU runs two threads on one core, which only
// take turns at it and wake each other, for no parallelism at all.
unsigned usable_cpus();

class CommandLine {
 public:
  // Registers the common options. `description` is the --help headline.
  CommandLine(std::string name, std::string description);
  ~CommandLine();
  CommandLine(const CommandLine&) = delete;
  CommandLine& operator=(const CommandLine&) = delete;

  // Offers --threads N (default `default_threads`, at least 1).
  void add_threads_option(unsigned default_threads);
  // Offers --max-clients N (0 = no limit).
  void add_max_clients_option();

  // For a server that speaks one protocol of its own instead of shift and
  // framed (part 4's packet and line servers): --protocol then accepts only
  // `name`, which is also its default, so the simulator's
  // `--protocol NAME` works and any other value exits 2 naming the one
  // this server speaks. --work-us is then not offered: it is honoured by
  // the shift and framed sessions (SessionLimits::work), which such a
  // server does not use. Must be called before parse().
  void speak_only(const std::string& name);

  // For a server's own options; register them before parse().
  CLI::App& app() { return *app_; }

  // Parses the arguments and applies --quiet to the log level. On --help,
  // prints usage and exits 0; on a bad argument, prints what is wrong and
  // exits 2. Returns only when the options are valid.
  ServerOptions parse(int argc, char** argv);

 private:
  std::unique_ptr<CLI::App> app_;
  ServerOptions options_;
  std::string protocol_name_ = "shift";
  long long idle_timeout_ms_ = 0;
  long long request_timeout_ms_ = 0;
  long long shutdown_grace_ms_ = 2000;
  long long work_us_ = 0;
};

// Parses a command line built on CLI11 directly (the clients' and tools'
// own: chat-client, chat-stress, threadspammer, asio-client, qt-client)
// with the servers' rules, which CommandLine::parse applies through it: on
// --help, prints usage and exits 0; on a bad argument, prints what is wrong
// and exits 2. Returns only when the arguments are valid.
void parse_or_exit(CLI::App& app, int argc, char** argv);

// Runs a server's body and turns its failures into an exit status, so every
// server reports problems the same way: a SetupError (bad address, port in
// use) prints "NAME: error: ..." and returns 1; any other exception prints
// "NAME: unexpected error: ..." and returns 1; normal completion returns 0.
int run_guarded(const std::string& name, const std::function<void()>& body);

}  // namespace cs
