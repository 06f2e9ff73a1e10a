// The sans-I/O protocol interface every server in the repository drives.
//
// A Session is the protocol logic of one connection with the sockets taken
// out: the server hands it whatever bytes arrived (any split of the stream:
// one byte, half a header, three messages at once) and sends whatever it
// appended to `out`. Because it never touches a socket, every chapter reuses
// it unchanged and the unit tests can feed it every split of every input.
//
// Lifecycle: a server creates one Session per accepted connection with
// make_session(), calls greet() once before reading, then on_receive() for
// each chunk until the Verdict says close or the peer reaches EOF; it
// destroys the Session with the connection. A Session is not thread-safe:
// one connection, one caller at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cs/bytes.hpp"

namespace cs {

enum class Protocol { shift, framed };

std::string_view to_string(Protocol protocol);

// What the connection should do after a chunk was processed.
struct Verdict {
  bool close = false;  // true: send what was appended to `out`, then close
  std::string reason;  // why, for the log line (empty when !close)

  static Verdict keep_open() { return {}; }
  static Verdict close_because(std::string why) { return {true, std::move(why)}; }
};

// The --max-frame default (docs/conventions.md): 1 MiB. Defined here, with
// the limit it sets, so that options.hpp, the clients and SessionLimits all
// read the same number.
inline constexpr std::uint32_t default_max_frame = 1u << 20;

// Protocol limits a server passes to its sessions (from the command line).
struct SessionLimits {
  // Largest framed payload accepted; a bigger header closes the connection.
  std::uint32_t max_frame = default_max_frame;
  // CPU time to spend on every request before its reply (--work-us; 0, the
  // default, spends none): shift, per message, when its '$' arrives; framed,
  // per frame, once the whole frame has arrived. See cs/cpu_work.hpp.
  std::chrono::microseconds work{0};
};

class Session {
 public:
  virtual ~Session() = default;

  // Appends what the server sends before reading anything (the shift
  // protocol's '*'; nothing for framed).
  virtual void greet(Bytes& out) = 0;

  // Consumes one received chunk, appending every reply it completes to `out`
  // (appended, never cleared: the caller may batch several chunks into one
  // send). Returns whether the connection must close after sending `out`.
  virtual Verdict on_receive(ByteView in, Bytes& out) = 0;

  // Requests completed so far (shift: messages ended by '$'; framed: frames).
  // For the summary line servers print on shutdown.
  virtual std::uint64_t requests() const = 0;

  // True while a request is under way: bytes have arrived since the last
  // completed request (shift: any byte after the '$' that ended the last
  // message, even one outside a message; framed: part of a header or a
  // body). What --request-timeout-ms measures (cs/request_timer.hpp): a
  // client that trickles a request one byte at a time is never idle, but
  // its request still has to finish in time.
  virtual bool request_pending() const = 0;
};

std::unique_ptr<Session> make_session(Protocol protocol, const SessionLimits& limits);

}  // namespace cs
