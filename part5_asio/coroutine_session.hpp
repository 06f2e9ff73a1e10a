// The coroutine session: the callback session (callback_session.hpp) again,
// each chain of handlers written as one C++20 coroutine that reads top to
// bottom. A session is three coroutines on its strand: reader (read a
// request, queue its reply), writer (the only writer, so one write in
// flight) and watchdog (the idle and request timeouts). Each co_await is
// where the callback version ended a handler. New since the callback
// session: co_spawn, awaitable, and timers used as wake-up signals.
//
// The request step is written here, in the reader: the reply is computed on
// the strand, as asio_server.cpp does for the callback session.
// `diff callback_session.hpp coroutine_session.hpp` shows the two styles
// side by side, and docs/part5_asio.md prints that diff.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "asio_headers.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"
#include "session_base.hpp"

#include "cs/bytes.hpp"
#include "cs/frame_codec.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"

namespace part5 {

// Coroutines on the session's strand, its executor named by type as the
// socket's is (SessionExecutor says why).
template <typename T>
using awaitable = asio::awaitable<T, SessionExecutor>;
inline constexpr asio::use_awaitable_t<SessionExecutor> use_awaitable;

// A steady_timer that never expires is a one-bit signal between coroutines
// on one strand: the waiter awaits it, the notifier cancels it. There is no
// lost wake-up, because a coroutine checks its condition and starts the wait
// without yielding the strand in between.
inline void wake(SessionTimer& signal) { signal.cancel(); }
inline awaitable<void> sleep_until_woken(SessionTimer& signal) {
  signal.expires_at(std::chrono::steady_clock::time_point::max());
  boost::system::error_code ignored;  // operation_aborted is the wake-up
  co_await signal.async_wait(asio::redirect_error(use_awaitable, ignored));
}

// One connection; see the callback session for the ownership rule. Here the
// shared_ptr lives in each coroutine's frame (the `self` parameter), so the
// session ends when its last coroutine returns.
class CoroutineSession : public SessionBase {
 public:
  CoroutineSession(SessionSocket socket, SessionHost& server, std::uint64_t id)
      : SessionBase(std::move(socket), server, id),
        reply_queued_(socket_.get_executor()),
        queue_drained_(socket_.get_executor()) {}

  // Starts serving. Call once, after the server registered the session.
  void start();

 protected:
  void queue_reply(cs::Bytes reply);
  void finish(std::string why) override;  // no more input: close once the replies are out
  void close(const std::string& why) override;

  std::shared_ptr<CoroutineSession> shared() {
    return std::static_pointer_cast<CoroutineSession>(shared_from_this());
  }

 private:
  awaitable<void> reader(std::shared_ptr<CoroutineSession> self);
  awaitable<void> writer(std::shared_ptr<CoroutineSession> self);
  awaitable<void> watchdog(std::shared_ptr<CoroutineSession> self);
  // One request: read it, queue its reply. False when input ended.
  awaitable<bool> serve_shift_chunk();
  awaitable<bool> serve_frame();

  SessionTimer reply_queued_;   // wakes the writer
  SessionTimer queue_drained_;  // wakes a reader paused by backpressure
};

inline void CoroutineSession::start() {
  // All three on the session's strand (the socket's executor). asio::detached
  // would swallow an exception (say bad_alloc for a frame near a large
  // --max-frame) and leave the session half alive; instead a coroutine that
  // throws is logged and closes its own session only.
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
  asio::co_spawn(strand, writer(shared()), on_end);
  if (deadlines_.enabled()) asio::co_spawn(strand, watchdog(shared()), on_end);
}

inline awaitable<void> CoroutineSession::reader(
    [[maybe_unused]] std::shared_ptr<CoroutineSession> self) {
  cs::log_info("session ", id_, ": accepted ", peer_);
  if (shift_) {
    cs::Bytes greeting;
    shift_->greet(greeting);
    queue_reply(std::move(greeting));
  }
  for (;;) {
    const bool more = shift_ ? co_await serve_shift_chunk() : co_await serve_frame();
    if (!more) co_return;
    // Backpressure: a client that does not read its replies stops being read.
    while (queued_bytes_ > max_queued_reply_bytes && !closed_) {
      co_await sleep_until_woken(queue_drained_);
    }
    if (closed_) co_return;
  }
}

// Waits for readability, then reads into the I/O thread's buffer
// (server_setup.hpp): no co_await between the read and on_receive, so the
// buffer cannot change hands in between, and an idle session holds none.
inline awaitable<bool> CoroutineSession::serve_shift_chunk() {
  error_code error;
  co_await socket_.async_wait(tcp::socket::wait_read, asio::redirect_error(use_awaitable, error));
  std::size_t bytes = 0;
  const asio::mutable_buffer buffer = io_thread_read_buffer();
  if (!error && !closed_) bytes = socket_.read_some(buffer, error);
  if (error == asio::error::would_block) co_return true;  // nothing after all: wait again
  if (!read_completed(error, bytes)) co_return false;
  cs::Bytes reply;
  const cs::Verdict verdict =
      shift_->on_receive(cs::ByteView(static_cast<const cs::Byte*>(buffer.data()), bytes), reply);
  deadlines_.after_receive(*shift_);
  queue_reply(std::move(reply));
  if (verdict.close) {
    finish(verdict.reason);
    co_return false;
  }
  co_return true;
}

// The callback session's do_read_header and do_read_body, as one function,
// with the same completion condition: each piece of a frame is noted as it
// arrives, so a frame trickled in 10 KB at a time is not idle, and its first
// byte starts its request clock.
inline awaitable<bool> CoroutineSession::serve_frame() {
  const auto note_each_piece = noting_progress([this] { note_received(); });
  error_code error;
  std::size_t bytes = co_await asio::async_read(socket_, asio::buffer(header_), note_each_piece,
                                                asio::redirect_error(use_awaitable, error));
  if (!read_completed(error, bytes)) co_return false;
  const std::uint32_t length = cs::read_frame_length(header_);
  if (!frame_length_allowed(length)) {
    finish("oversized frame");
    co_return false;
  }
  body_.resize(length);  // bad_alloc ends the coroutine: start() closes the session
  bytes = co_await asio::async_read(socket_, asio::buffer(body_), note_each_piece,
                                    asio::redirect_error(use_awaitable, error));
  if (!read_completed(error, bytes)) co_return false;
  deadlines_.frame_complete();
  ++frames_;
  queue_reply(frame_reply(body_, options().work));
  co_return true;
}

inline void CoroutineSession::queue_reply(cs::Bytes reply) {
  if (reply.empty() || closed_) return;
  queued_bytes_ += reply.size();
  write_queue_.push_back(std::move(reply));
  wake(reply_queued_);
}

// The one writer of this socket, so one write in flight by construction.
// Each piece sent restarts the idle clock, so a client that reads a large
// reply slowly is not idle.
inline awaitable<void> CoroutineSession::writer(
    [[maybe_unused]] std::shared_ptr<CoroutineSession> self) {
  const auto note_each_piece = noting_progress([this] { note_sent(); });
  std::vector<cs::Bytes> writing;
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (write_queue_.empty()) {
      if (finish_reason_) {  // every reply is out
        close(*finish_reason_);
        co_return;
      }
      co_await sleep_until_woken(reply_queued_);
      continue;
    }
    writing.assign(std::make_move_iterator(write_queue_.begin()),
                   std::make_move_iterator(write_queue_.end()));
    write_queue_.clear();
    buffers.clear();
    for (const cs::Bytes& reply : writing) buffers.push_back(asio::buffer(reply));
    error_code error;
    // A span, not the vector: async_write keeps a copy of its sequence.
    const std::size_t bytes =
        co_await asio::async_write(socket_, std::span<const asio::const_buffer>(buffers),
                                   note_each_piece, asio::redirect_error(use_awaitable, error));
    if (closed_) co_return;
    bytes_sent_ += bytes;
    if (bytes > 0) note_sent();
    if (error) {
      close(error.message());
      co_return;
    }
    queued_bytes_ -= bytes;
    if (queued_bytes_ <= max_queued_reply_bytes) wake(queue_drained_);
  }
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

inline void CoroutineSession::finish(std::string why) {
  finish_reason_ = std::move(why);
  wake(reply_queued_);  // the writer closes once the queue is empty
}

// Every coroutine of the session is suspended on the socket or on one of
// these timers: each wakes with an error, sees closed_ and returns.
inline void CoroutineSession::close(const std::string& why) {
  if (!close_socket(why)) return;
  wake(reply_queued_);
  wake(queue_drained_);
}

}  // namespace part5
