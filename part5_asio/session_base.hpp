// What every session of this chapter holds and does, whichever style it is
// written in: its socket, strand and timer, its peer's name, its deadlines,
// the protocol state, the queue of replies, the counters; and the steps that
// are the same in callbacks and in coroutines: what a finished read means
// (read_completed), what progress restarts (note_received, note_sent), the
// --max-frame check, and closing the socket. The sessions themselves (the
// order of reads and writes, and how one waits for the other) are
// callback_session.hpp and coroutine_session.hpp, so that `diff` between
// those two files shows one session written two ways and nothing else.
//
// Everything here is used on the session's strand only (the socket's
// executor), never by two threads at once, so nothing needs a lock; stop()
// is the one member another thread may call, and it only posts to the
// strand.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "asio_headers.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"

#include "cs/bytes.hpp"
#include "cs/frame_codec.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"

namespace part5 {

// Derived by each style's session, which writes finish() and close() its
// own way (the callback session closes from its write handler, the
// coroutine session wakes its coroutines). The registry of
// server_skeleton.hpp keeps the derived type; here only this part of it is
// needed.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  using Clock = std::chrono::steady_clock;
  using error_code = boost::system::error_code;

  SessionBase(const SessionBase&) = delete;
  SessionBase& operator=(const SessionBase&) = delete;

  // Public, so that a derived class inheriting it (using ...::SessionBase)
  // can be made by make_shared; the class is abstract all the same.
  SessionBase(SessionSocket socket, SessionHost& server, std::uint64_t id)
      : socket_(std::move(socket)),
        server_(server),
        id_(id),
        peer_(peer_name(socket_)),
        deadline_timer_(socket_.get_executor()),
        deadlines_(server_.options()) {
    if (server_.options().protocol == cs::Protocol::shift) {
      shift_ = cs::make_session(cs::Protocol::shift, server_.options().session_limits());
    }
    // Replies are built whole and written with one call: Nagle could only
    // delay them (cs::set_nodelay says more).
    error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    // The shift read's read_some after a readiness wake-up must not block.
    socket_.non_blocking(true, ignored);
  }

  // The session ends when the last handler or coroutine holding it does:
  // its counts go into the server's summary, and it leaves the registry.
  virtual ~SessionBase() {
    const std::uint64_t requests = shift_ ? shift_->requests() : frames_;
    server_.stats().add_connection(requests, bytes_received_, bytes_sent_);
    server_.remove(id_);
  }

  // Closes the connection now, from any thread (posted to the strand).
  void stop(std::string why) {
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), why = std::move(why)] { self->close(why); });
  }

 protected:
  // No more input (the client half-closed, a protocol error): close once
  // the queued replies are out.
  virtual void finish(std::string why) = 0;
  // Close now; a second call does nothing.
  virtual void close(const std::string& why) = 0;

  // The common start of every read's continuation: false when reading ends.
  bool read_completed(const error_code& error, std::size_t bytes) {
    if (closed_) return false;  // the socket was closed while the read was queued
    bytes_received_ += bytes;
    if (bytes > 0) note_received();
    if (error == asio::error::eof) {
      finish("client closed");  // a half-close: the replies still go out
      return false;
    }
    if (error) {
      close(error.message());
      return false;
    }
    return true;
  }

  // Bytes arrived or left: the idle clock restarts, and a frame's first byte
  // starts its request clock. The completion conditions of the framed reads
  // and of the write call these too, between the pieces of an operation
  // (part5::noting_progress), on the strand like the rest of the session.
  void note_received() {
    deadlines_.activity();
    if (!shift_) deadlines_.frame_byte_arrived();
  }
  void note_sent() { deadlines_.activity(); }

  // Judges a frame on its header alone, before a byte of its body is
  // buffered: false (and a warning) when it is longer than --max-frame.
  bool frame_length_allowed(std::uint32_t length) const {
    if (length <= options().max_frame) return true;
    cs::log_warn("session ", id_, ": frame of ", length, " bytes exceeds --max-frame ",
                 options().max_frame);
    return false;
  }

  // The part of close() both styles share: false if the session was
  // already closed. Closing the socket cancels its outstanding read, write
  // and wait, and the deadline timer's: each completes with
  // operation_aborted, sees closed_, and lets go of the session.
  bool close_socket(const std::string& why) {
    if (closed_) return false;
    closed_ = true;
    cs::log_info("session ", id_, ": closing ", peer_, ": ", why);
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    deadline_timer_.cancel();
    return true;
  }

  const cs::ServerOptions& options() const { return server_.options(); }

  SessionSocket socket_;
  SessionHost& server_;
  const std::uint64_t id_;
  const std::string peer_;
  SessionTimer deadline_timer_;  // sleeps until deadlines_.next_check()
  SessionDeadlines deadlines_;

  std::unique_ptr<cs::Session> shift_;  // the shift protocol's state (shift only)
  std::array<cs::Byte, cs::frame_header_length> header_{};  // framed only
  cs::Bytes body_;                                          // framed only

  std::deque<cs::Bytes> write_queue_;  // replies waiting for the next write
  std::size_t queued_bytes_ = 0;       // queued or being written
  std::optional<std::string> finish_reason_;  // set when input ended
  bool closed_ = false;

  std::uint64_t frames_ = 0;
  std::uint64_t bytes_received_ = 0;
  std::uint64_t bytes_sent_ = 0;

 private:
  static std::string peer_name(const SessionSocket& socket) {
    error_code error;
    const auto endpoint = socket.remote_endpoint(error);
    return error ? std::string("unknown peer")
                 : cs::Endpoint{endpoint.address().to_string(), endpoint.port()}.to_string();
  }
};

}  // namespace part5
