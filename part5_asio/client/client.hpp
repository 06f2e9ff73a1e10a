// An embeddable client for the shift and framed protocols: it never blocks
// the application's thread. Its io_context runs on a background thread that
// the Client owns; requests are handed over from any thread and each result
// comes back by callback (on that background thread) or as a std::future.
//
// What it handles so the application does not have to:
//   - asynchronous name resolution; a failed lookup is reported as such;
//   - a connect timeout (name lookup, connect and the shift greeting) and a
//     per-request timeout, both steady_timers, reported as timeouts;
//   - automatic reconnection with capped exponential backoff whenever the
//     connection is lost, with a clear error for the request that was in
//     flight (its reply is lost; the server may or may not have acted on it);
//   - each request sent with one write (header and payload together).
//
// One request is on the wire at a time per Client (no pipelining); others
// wait in a FIFO queue. For more concurrency, use more Clients.
//
//   part5::Client client({.host = "127.0.0.1", .port = 9090});
//   part5::Result result = client.request(cs::to_bytes("hello")).get();
//   if (result.ok()) use(result.reply); else log(result.describe());
//
// The header keeps Asio out (the implementation is behind a pointer), so an
// application that embeds the client does not compile Asio's headers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "cs/bytes.hpp"
#include "cs/options.hpp"
#include "cs/session.hpp"

namespace part5 {

// How one request ended.
enum class Status {
  ok,               // `reply` holds the server's answer
  lookup_failed,    // the host name did not resolve (e.g. NXDOMAIN)
  connect_failed,   // the server refused or could not be reached
  connect_timeout,  // lookup + connect (+ greeting) took longer than connect_timeout
  request_timeout,  // no complete reply within request_timeout of request()
  connection_lost,  // the connection broke while this request was on the wire
  protocol_error,   // the server sent something the protocol does not allow
  invalid_request,  // the payload cannot be sent in this protocol (see request())
  client_stopped,   // the Client was destroyed before the request finished
};

std::string_view to_string(Status status);

struct Result {
  Status status = Status::ok;
  cs::Bytes reply;     // the reply's payload (framed: without the header)
  std::string detail;  // for errors: what happened, e.g. "Connection refused"

  bool ok() const { return status == Status::ok; }
  // "ok", or "connect_failed: Connection refused" and the like.
  std::string describe() const;
};

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9090;
  cs::Protocol protocol = cs::Protocol::shift;
  std::chrono::milliseconds connect_timeout{2000};
  // Counted from the call to request(), so it covers time spent waiting for
  // a connection or behind earlier requests, not only the round trip.
  std::chrono::milliseconds request_timeout{5000};
  // Reconnection delays: the first retry waits first_retry_delay, each
  // failed attempt doubles it, up to max_retry_delay; a successful connect
  // resets it.
  std::chrono::milliseconds first_retry_delay{50};
  std::chrono::milliseconds max_retry_delay{2000};
  std::uint32_t max_frame = cs::default_max_frame;  // a longer reply frame is a protocol error
  // Demonstrations of Nagle's algorithm meeting delayed ACKs (see
  // docs/part5_asio.md). split_writes sends the header ('^' or the 4-byte
  // length) and the rest as two writes, as the Asio/Qt benchmark of
  // MhmRhm/asio-recipes does; nodelay sets TCP_NODELAY. The default, one
  // write with Nagle left on, is what a client should do.
  bool split_writes = false;
  bool nodelay = false;
};

class Client {
 public:
  using Callback = std::function<void(Result)>;

  // Starts the background thread and the first connection attempt. Returns
  // at once; a connection problem shows in the results of requests.
  explicit Client(ClientOptions options);

  // Fails every unfinished request with client_stopped (their callbacks run
  // before this returns), closes the connection and joins the thread. Must
  // not be called from one of this Client's callbacks.
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `payload` and calls `done` exactly once, on the Client's thread,
  // with the reply or the error. Thread-safe; may be called from a callback
  // (a closed loop does exactly that). `done` must not block for long: it
  // runs on the thread that does all of this Client's I/O, and must not throw.
  // Shift: the payload is the message between '^' and '$', so it must be
  // non-empty (an empty message has no reply to wait for) and must not
  // contain '$'; otherwise the result is invalid_request. The reply is the
  // payload's bytes plus one. Framed: any payload up to max_frame.
  void request(cs::Bytes payload, Callback done);

  // The same, with the result as a future. Thread-safe. Do not wait on the
  // future inside a callback of this Client: that would block its thread.
  std::future<Result> request(cs::Bytes payload);

  // Connections established so far (1 after the first, 2 after a
  // reconnection, ...). Thread-safe.
  std::uint64_t connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;  // owns the thread; see client.cpp
};

}  // namespace part5
