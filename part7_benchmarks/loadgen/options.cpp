// Builds the CLI11 parser for the four modes and checks the rules that span
// several options (see options.hpp).
#include "options.hpp"

#include <CLI/CLI.hpp>

#include <sstream>

namespace loadgen {

std::string to_string(Mode mode) {
  switch (mode) {
    case Mode::pingpong: return "pingpong";
    case Mode::burst: return "burst";
    case Mode::chat: return "chat";
    case Mode::idle: return "idle";
  }
  return "?";
}

namespace {

constexpr double longest_run_seconds = 24 * 3600;

void add_target(CLI::App& mode, LoadOptions& o) {
  mode.add_option("--host", o.host, "IPv4 address of the server")->capture_default_str();
  mode.add_option("--port", o.port, "Port of the server")->required()->check(CLI::Range(1, 65535));
  mode.add_option("--connect-timeout", o.connect_timeout,
                  "Seconds a connection may take to be established")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  mode.add_flag("--quiet", o.quiet, "Log only warnings and errors");
}

void add_protocol(CLI::App& mode, std::string& protocol_name) {
  mode.add_option("--protocol", protocol_name, "Protocol the server speaks")
      ->check(CLI::IsMember({"shift", "framed"}))
      ->capture_default_str();
}

void add_connections(CLI::App& mode, LoadOptions& o, const char* what) {
  mode.add_option("--connections,-c", o.connections, what)
      ->check(CLI::Range(1u, 1'000'000u))
      ->capture_default_str();
}

void add_measured_time(CLI::App& mode, LoadOptions& o) {
  mode.add_option("--seconds", o.seconds, "Measured seconds, after the warm-up")
      ->check(CLI::Range(0.01, longest_run_seconds))
      ->capture_default_str();
  mode.add_option("--warmup", o.warmup, "Unmeasured seconds before the measurement")
      ->check(CLI::Range(0.0, longest_run_seconds))
      ->capture_default_str();
}

}  // namespace

ParseOutcome parse_arguments(int argc, const char* const* argv) {
  ParseOutcome outcome;
  LoadOptions& o = outcome.options;
  std::string protocol_name = "shift";
  CLI::App app("loadgen - load generator for the tutorial's servers: one JSON object per run on "
               "stdout, logs on stderr",
               "loadgen");
  app.require_subcommand(1);

  CLI::App* pingpong = app.add_subcommand(
      "pingpong", "Closed loop: each connection sends a request, waits for the reply, repeats");
  add_target(*pingpong, o);
  add_protocol(*pingpong, protocol_name);
  add_connections(*pingpong, o, "Concurrent connections");
  pingpong->add_option("--threads", o.threads, "Event loops (threads) of the generator")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  pingpong->add_option("--pipeline", o.pipeline, "Requests in flight per connection")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  pingpong->add_option("--size", o.size, "Payload bytes per request")
      ->check(CLI::Range(0u, 16u << 20))
      ->capture_default_str();
  add_measured_time(*pingpong, o);
  pingpong->add_flag("--nodelay", o.nodelay, "Set TCP_NODELAY on the generator's sockets");
  pingpong->add_flag("--split-writes", o.split_writes,
                     "Send each request's header and body with two send() calls");

  CLI::App* burst = app.add_subcommand(
      "burst", "Open every connection at once; count those served (one request) in time");
  add_target(*burst, o);
  add_protocol(*burst, protocol_name);
  add_connections(*burst, o, "Connections opened at once");
  burst->add_option("--size", o.size, "Payload bytes of each connection's request")
      ->check(CLI::Range(1u, 1u << 20))
      ->capture_default_str();
  burst->add_option("--timeout", o.timeout, "Seconds the whole burst may take")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();

  CLI::App* chat = app.add_subcommand(
      "chat", "Chat clients; some or all send, at a fixed rate or in a closed loop; measure "
              "deliveries per second, delivery latency and losses");
  add_target(*chat, o);
  add_connections(*chat, o, "Clients in the room");
  chat->add_option("--senders", o.senders, "How many of the clients send (0: every client in the room)")
      ->check(CLI::Range(0u, 1'000'000u))
      ->capture_default_str();
  CLI::Option* rate = chat->add_option("--rate", o.rate, "Messages per second per sender (open loop)")
                          ->check(CLI::Range(0.1, 1e6))
                          ->capture_default_str();
  chat->add_option("--in-flight", o.in_flight,
                   "Closed loop instead of --rate: each sender sends whenever fewer than K of its "
                   "messages are still on their way to a client in the room, so the room runs as "
                   "fast as the server delivers (default 0: open loop)")
      ->check(CLI::Range(0u, 4096u))
      ->excludes(rate)
      ->capture_default_str();
  chat->add_option("--size", o.size, "Payload bytes per message (at least 24)")
      ->check(CLI::Range(chat_header_size, 1u << 20))
      ->capture_default_str();
  add_measured_time(*chat, o);
  chat->add_option("--drain", o.drain,
                   "Seconds to wait for deliveries after the last send; in the closed loop also "
                   "how long a message may take to reach everyone before its sender gives up on it")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  chat->add_option("--join-timeout", o.join_timeout,
                   "Seconds the clients have to join; those still out are counted as failed "
                   "and the rest chat (default 0: every client must join)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();

  CLI::App* idle = app.add_subcommand(
      "idle", "Open connections and hold them, idle, so the server's cost per client shows");
  add_target(*idle, o);
  add_protocol(*idle, protocol_name);
  add_connections(*idle, o, "Connections to hold");
  idle->add_option("--seconds", o.seconds, "Seconds to hold them (0: until SIGINT/SIGTERM)")
      ->check(CLI::Range(0.0, longest_run_seconds))
      ->capture_default_str();

  // CLI11 would only say "a subcommand is required" for a misspelt mode.
  if (argc > 1 && argv[1][0] != '-') {
    const std::string word = argv[1];
    if (word != "pingpong" && word != "burst" && word != "chat" && word != "idle") {
      outcome.exit_code = 2;
      outcome.message = "loadgen: unknown mode '" + word + "': choose pingpong, burst, chat or idle";
      return outcome;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    outcome.message = app.help();
    return outcome;
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) {  // --help on a subcommand, --help-all
      outcome.message = (pingpong->parsed()   ? pingpong
                         : burst->parsed()  ? burst
                         : chat->parsed()   ? chat
                         : idle->parsed()   ? idle
                                            : &app)
                            ->help();
      return outcome;
    }
    outcome.exit_code = 2;
    outcome.message = std::string("loadgen: ") + error.what();
    return outcome;
  }

  if (pingpong->parsed()) o.mode = Mode::pingpong;
  if (burst->parsed()) o.mode = Mode::burst;
  if (chat->parsed()) o.mode = Mode::chat;
  if (idle->parsed()) o.mode = Mode::idle;
  o.protocol = protocol_name == "framed" ? cs::Protocol::framed : cs::Protocol::shift;

  auto refuse = [&](const std::string& why) {
    outcome.exit_code = 2;
    outcome.message = "loadgen: " + why;
    return outcome;
  };
  if (o.mode == Mode::chat && o.senders > o.connections) {
    return refuse("--senders (" + std::to_string(o.senders) + ") cannot exceed --connections (" +
                  std::to_string(o.connections) + ")");
  }
  if (o.mode == Mode::chat && o.connections < 2) {
    return refuse("chat needs at least 2 --connections (a message goes to every other client)");
  }
  if (o.mode == Mode::pingpong && o.protocol == cs::Protocol::shift && o.size == 0) {
    return refuse("a shift request needs --size 1 or more (\"^$\" has no reply to wait for)");
  }
  if (o.mode == Mode::pingpong && o.threads > o.connections) {
    return refuse("--threads (" + std::to_string(o.threads) +
                  ") cannot exceed --connections: a thread would have nothing to do");
  }
  outcome.run = true;
  return outcome;
}

}  // namespace loadgen
