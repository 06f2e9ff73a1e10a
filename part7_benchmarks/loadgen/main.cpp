// loadgen - the load generator of the benchmarks: drives any server of the
// tutorial over TCP in one of four modes (pingpong, burst, chat, idle; see
// options.hpp and each mode's file), verifies every byte it gets back, and
// prints one JSON object per run on stdout. Logs go to stderr.
//
// Event-driven: each thread runs one epoll loop over many non-blocking
// sockets, so one process holds thousands of connections, and pingpong's
// --threads spreads them over the cores so the generator is not the
// bottleneck it measures.
//
// Run:  loadgen pingpong --port 9090 --connections 10 --seconds 5
//       loadgen --help     (and loadgen MODE --help)
#include <iostream>

#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/stop.hpp"
#include "modes.hpp"
#include "net.hpp"

int main(int argc, char** argv) {
  const loadgen::ParseOutcome parsed = loadgen::parse_arguments(argc, argv);
  if (!parsed.run) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message << "\n";
    return parsed.exit_code;
  }
  const loadgen::LoadOptions& options = parsed.options;
  if (options.quiet) cs::set_log_level(cs::LogLevel::warn);
  cs::StopSignal stop;
  cs::install_stop_handlers(stop);  // also ignores SIGPIPE
  return cs::run_guarded("loadgen", [&] {
    const std::uint64_t files = loadgen::raise_open_file_limit();
    // Each connection is one descriptor; a few more are the process's own.
    if (files < options.connections + 16) {
      cs::log_warn("open-file limit ", files, " is below --connections ", options.connections,
                   ": raise it (ulimit -n) or expect connect failures");
    }
    std::string result;
    switch (options.mode) {
      case loadgen::Mode::pingpong: result = loadgen::run_pingpong(options, stop); break;
      case loadgen::Mode::burst: result = loadgen::run_burst(options, stop); break;
      case loadgen::Mode::chat: result = loadgen::run_chat(options, stop); break;
      case loadgen::Mode::idle: result = loadgen::run_idle(options, stop); break;
    }
    std::cout << result << std::endl;
  });
}
