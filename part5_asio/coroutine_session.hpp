// The coroutine session: the callback session (callback_session.hpp) again,
// its chain of handlers written as a C++20 coroutine that reads top to
// bottom: read what arrived, compute the replies, write them, read again.
// Each co_await is where the callback version ended a handler. A second
// coroutine, the watchdog, keeps the idle and request timeouts. New since
// the callback session: co_spawn and awaitable.
//
// One difference is of design, and the sequential style is what makes it
// natural: this session waits for its write before it reads on. So one
// write is in flight by construction, and a client that does not read its
// replies stops being read as soon as the kernel's send buffer is full,
// with no reply queue and no limit to count. The callback session reads
// the next request while a reply is being written, and needs both.
//
// The request step is written here, in the reader: the reply is computed on
// the strand, as asio_server.cpp does for the callback session.
// `diff callback_session.hpp coroutine_session.hpp` shows the two styles
// side by side, and docs/part5_asio.md prints that diff.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "asio_headers.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"
#include "session_base.hpp"

#include "cs/bytes.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"

namespace part5 {

// Coroutines on the session's strand, its executor named by type as the
// socket's is (SessionExecutor says why).
template <typename T>
using awaitable = asio::awaitable<T, SessionExecutor>;
inline constexpr asio::use_awaitable_t<SessionExecutor> use_awaitable;

// One connection; see the callback session for the ownership rule. Here the
// shared_ptr lives in each coroutine's frame (the `self` parameter), so the
// session ends when its last coroutine returns.
class CoroutineSession : public SessionBase {
 public:
  using SessionBase::SessionBase;

  // Starts serving. Call once, after the server registered the session.
  void start();

 protected:
  void finish(std::string why) override;  // no more input: close (no reply is queued)
  void close(const std::string& why) override;

  std::shared_ptr<CoroutineSession> shared() {
    return std::static_pointer_cast<CoroutineSession>(shared_from_this());
  }

 private:
  awaitable<void> reader(std::shared_ptr<CoroutineSession> self);
  awaitable<void> watchdog(std::shared_ptr<CoroutineSession> self);
  // Writes `replies` whole (nothing, if empty). False when the session closed.
  awaitable<bool> write(const cs::Bytes& replies);
};

inline void CoroutineSession::start() {
  // Both on the session's strand (the socket's executor). asio::detached
  // would swallow an exception (say bad_alloc growing the read buffer) and
  // leave the session half alive; instead a coroutine that throws is logged and
  // closes its own session only.
  const auto strand = socket_.get_executor();
  const auto on_end = [self = shared()](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      self->stop(std::string("internal error: ") + error.what());
    }
  };
  asio::co_spawn(strand, reader(shared()), on_end);
  if (deadlines_.enabled()) asio::co_spawn(strand, watchdog(shared()), on_end);
}

// The callback session's do_read, asio_server.cpp's serve_chunk and
// do_write, as one loop: read whatever has arrived, compute the replies on
// the strand, write them, and only then read again.
inline awaitable<void> CoroutineSession::reader(
    [[maybe_unused]] std::shared_ptr<CoroutineSession> self) {
  cs::log_info("session ", id_, ": accepted ", peer_);
  cs::Bytes greeting;  // shift greets; framed does not
  protocol_->greet(greeting);
  if (!co_await write(greeting)) co_return;
  for (;;) {
    error_code error;
    const std::size_t bytes = co_await socket_.async_read_some(
        read_buffer(), asio::redirect_error(use_awaitable, error));
    if (!read_completed(error, bytes)) co_return;
    cs::Bytes replies;
    const cs::Verdict verdict = answer(received(bytes), replies);
    deadlines_.after_receive(*protocol_);
    if (!co_await write(replies)) co_return;
    if (verdict.close) {
      close(verdict.reason);
      co_return;
    }
  }
}

// Each piece sent restarts the idle clock, so a client that reads a large
// reply slowly is not idle.
inline awaitable<bool> CoroutineSession::write(const cs::Bytes& replies) {
  if (replies.empty()) co_return !closed_;
  error_code error;
  const std::size_t bytes =
      co_await asio::async_write(socket_, asio::buffer(replies), noting_progress([this] { note_sent(); }),
                                 asio::redirect_error(use_awaitable, error));
  if (closed_) co_return false;
  bytes_sent_ += bytes;
  if (bytes > 0) note_sent();
  if (error) {
    close(error.message());
    co_return false;
  }
  co_return true;
}

// The idle and request timeouts: sleeps until the earliest deadline
// deadlines_ knows (server_setup.hpp); reads and writes only store times
// there, they never touch the timer.
inline awaitable<void> CoroutineSession::watchdog(
    [[maybe_unused]] std::shared_ptr<CoroutineSession> self) {
  while (!closed_) {
    deadline_timer_.expires_at(deadlines_.next_check(Clock::now()));
    error_code ignored;
    co_await deadline_timer_.async_wait(asio::redirect_error(use_awaitable, ignored));
    if (closed_) co_return;
    if (const auto why = deadlines_.expired(Clock::now())) close(*why);
  }
}

// Input ended: every reply to it is already written, since the reader
// writes before it reads on.
inline void CoroutineSession::finish(std::string why) { close(why); }

// Called by the reader itself, by the watchdog or by shutdown. Whatever is
// suspended (the reader on the socket, the watchdog on the deadline timer)
// is cancelled by the close, wakes with an error, sees closed_ and returns.
inline void CoroutineSession::close(const std::string& why) { close_socket(why); }

}  // namespace part5
