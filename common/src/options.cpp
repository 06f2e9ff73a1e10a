// The shared server command line; see options.hpp.
#include "cs/options.hpp"

#include <CLI/CLI.hpp>

#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cs/log.hpp"
#include "cs/socket.hpp"

namespace cs {

unsigned usable_cpus() {
#ifdef __linux__
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0) {
    return static_cast<unsigned>(CPU_COUNT(&allowed));
  }
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

CommandLine::CommandLine(std::string name, std::string description)
    : app_(std::make_unique<CLI::App>(std::move(description), std::move(name))) {
  // One option, reachable both ways: the original series' test script passes
  // the port as the first argument; everything else here uses --port.
  app_->add_option("port,--port", options_.port, "TCP port to listen on; 0 picks a free port")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app_->add_option("--host", options_.host, "Address to listen on (IPv4 or IPv6)")
      ->capture_default_str();
  app_->add_option("--protocol", protocol_name_, "Protocol to speak")
      ->check(CLI::IsMember({"shift", "framed"}))
      ->capture_default_str();
  app_->add_option("--backlog", options_.backlog,
                  "Listen backlog: connections the kernel queues before accept; the default "
                  "is SOMAXCONN (4096 on Linux, also net.core.somaxconn's default; on "
                  "Windows, the provider's reasonable maximum). Linux caps any value at "
                  "net.core.somaxconn")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app_->add_option("--idle-timeout-ms", idle_timeout_ms_,
                  "Close a connection after this long without a byte received or sent; 0 = never")
      ->check(CLI::Range(0LL, 86'400'000LL))
      ->capture_default_str();
  app_->add_option("--request-timeout-ms", request_timeout_ms_,
                  "Close a connection whose request is not complete this long after its "
                  "first byte arrived (bounds clients that trickle bytes); 0 = never")
      ->check(CLI::Range(0LL, 86'400'000LL))
      ->capture_default_str();
  app_->add_option("--shutdown-grace-ms", shutdown_grace_ms_,
                  "On SIGINT or SIGTERM (Windows: Ctrl-C), how long open connections may go on")
      ->check(CLI::Range(0LL, 600'000LL))
      ->capture_default_str();
  app_->add_option("--max-frame", options_.max_frame,
                  "Largest framed payload in bytes; a bigger frame closes its connection")
      ->check(CLI::Range(std::uint32_t{0}, largest_max_frame))
      ->capture_default_str();
  app_->add_option("--work-us", work_us_,
                  "Microseconds of CPU to compute for on every request before replying "
                  "(shift: per message; framed: per frame), to simulate CPU-heavy requests; "
                  "0 = none")
      ->check(CLI::Range(0LL, largest_work_us))
      ->capture_default_str();
  app_->add_flag("--quiet", options_.quiet, "Log only warnings and errors");
}

CommandLine::~CommandLine() = default;

void CommandLine::add_threads_option(unsigned default_threads) {
  options_.threads = default_threads;
  app_->add_option("--threads", options_.threads,
                  "Threads that serve the connections: a pool's threads, or the I/O "
                  "threads that run the event loop")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
}

void CommandLine::add_max_clients_option() {
  app_->add_option("--max-clients", options_.max_clients,
                  "Most clients served at once; 0 = no limit")
      ->check(CLI::Range(0u, 1'000'000u))
      ->capture_default_str();
}

void CommandLine::speak_only(const std::string& name) {
  app_->remove_option(app_->get_option("--protocol"));
  app_->remove_option(app_->get_option("--work-us"));
  protocol_name_ = name;
  const std::string program = app_->get_name();
  app_->add_option("--protocol", protocol_name_, "Protocol to speak (this server speaks only " + name + ")")
      ->check(CLI::Validator(
          [name, program](std::string& value) -> std::string {
            if (value == name) return {};
            return program + " speaks only the " + name + " protocol, not '" + value + "'";
          },
          name, name))
      ->capture_default_str();
}

void parse_or_exit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int status = app.exit(error);  // prints help (status 0) or the problem
    std::exit(status == 0 ? 0 : 2);
  }
}

ServerOptions CommandLine::parse(int argc, char** argv) {
  parse_or_exit(*app_, argc, argv);
  options_.protocol = protocol_name_ == "framed" ? Protocol::framed : Protocol::shift;
  options_.protocol_name = protocol_name_;
  options_.idle_timeout = std::chrono::milliseconds(idle_timeout_ms_);
  options_.request_timeout = std::chrono::milliseconds(request_timeout_ms_);
  options_.shutdown_grace = std::chrono::milliseconds(shutdown_grace_ms_);
  options_.work = std::chrono::microseconds(work_us_);
  set_log_level(options_.quiet ? LogLevel::warn : LogLevel::info);
  return options_;
}

int run_guarded(const std::string& name, const std::function<void()>& body) {
  try {
    body();
    return 0;
  } catch (const SetupError& error) {
    std::cerr << name << ": error: " << error.what() << std::endl;
  } catch (const std::exception& error) {
    std::cerr << name << ": unexpected error: " << error.what() << std::endl;
  }
  return 1;
}

}  // namespace cs
