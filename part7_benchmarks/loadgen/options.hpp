// The load generator's command line: one subcommand per mode, each offering
// only the options it uses (an option a mode would ignore is refused).
//
//   loadgen pingpong --port P [--protocol shift|framed] [--connections N]
//                    [--threads T] [--pipeline K] [--size BYTES]
//                    [--seconds S] [--warmup S] [--nodelay] [--split-writes]
//   loadgen burst    --port P [--protocol ...] [--connections N] [--timeout S]
//   loadgen chat     --port P [--connections N] [--senders M] [--rate R | --in-flight K]
//                    [--size BYTES] [--seconds S] [--warmup S] [--drain S]
//                    [--join-timeout S]
//   loadgen idle     --port P [--protocol ...] [--connections N] [--seconds S]
//
// Parsing is separate from running so the tests can check every rule
// without a network.
#pragma once

#include <cstdint>
#include <string>

#include "cs/session.hpp"

namespace loadgen {

enum class Mode { pingpong, burst, chat, idle };

std::string to_string(Mode mode);

struct LoadOptions {
  Mode mode = Mode::pingpong;
  std::string host = "127.0.0.1";  // an IPv4 literal
  std::uint16_t port = 0;
  cs::Protocol protocol = cs::Protocol::shift;  // chat mode always speaks chat
  unsigned connections = 1;
  unsigned threads = 1;    // pingpong: event loops, each with its share of the connections
  unsigned pipeline = 1;   // pingpong: requests in flight per connection
  std::uint32_t size = 64; // payload bytes of each request (chat: of each message)
  double seconds = 5;      // measured time (idle: how long to hold; 0 = until SIGTERM)
  double warmup = 1;       // pingpong, chat: unmeasured time before it
  bool nodelay = false;    // TCP_NODELAY on the generator's sockets
  bool split_writes = false;  // pingpong: header and body in two send() calls
  double connect_timeout = 5;  // seconds a connection may take to be established
  double timeout = 5;      // burst: seconds the whole burst may take
  unsigned senders = 1;    // chat: how many of the clients send (0: every client in the room)
  double rate = 100;       // chat: messages per second per sender (open loop)
  unsigned in_flight = 0;  // chat: >0: closed loop, at most this many messages per sender on their way
  double drain = 2;        // chat: seconds to wait for deliveries after the last send (closed
                           // loop: also the patience for one message before it is given up)
  double join_timeout = 0; // chat: >0: clients not in the room after S seconds are left out
  bool quiet = false;
};

// What parse_arguments() decided.
struct ParseOutcome {
  bool run = false;     // true: `options` is valid, go ahead
  int exit_code = 0;    // when !run: 0 after --help, 2 after a bad argument
  std::string message;  // when !run: the help text or the error to print
  LoadOptions options;
};

// Parses argv (argv[0] is the program name). Never prints, never exits.
// Thread-safe (it touches nothing global).
ParseOutcome parse_arguments(int argc, const char* const* argv);

// Bytes of the chat message header (magic, sender, sequence, send time):
// --size must leave room for it in chat mode.
inline constexpr std::uint32_t chat_header_size = 24;

}  // namespace loadgen
