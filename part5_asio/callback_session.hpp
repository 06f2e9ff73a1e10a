// The callback session: one connection served as a chain of completion
// handlers. Each step starts one asynchronous operation and names the
// handler that continues (do_read -> serve_chunk -> do_read; do_write
// beside it, one write in flight). A strand per session keeps its handlers
// from running at once, on whichever thread of the pool they complete.
//
// One step is left to the server file: serve_chunk(), what happens to the
// bytes of a request once they are read. asio_server.cpp computes the
// reply right there, in the handler; asio_server_workers.cpp hands it to a
// pool of worker threads. coroutine_session.hpp is this session again as
// coroutines; `diff callback_session.hpp coroutine_session.hpp` shows the
// two styles side by side, and docs/part5_asio.md prints that diff.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "asio_headers.hpp"
#include "server_setup.hpp"
#include "server_skeleton.hpp"
#include "session_base.hpp"

#include "cs/bytes.hpp"
#include "cs/log.hpp"
#include "cs/options.hpp"

namespace part5 {

// One connection. Created by the acceptor, owned by the handlers it has
// outstanding: each captures shared(), so the session lives exactly as long
// as some operation of it can still complete. All its members are touched
// only on its strand (the socket's executor), never by two threads at once,
// so none needs a lock.
class CallbackSession : public SessionBase {
 public:
  using SessionBase::SessionBase;

  // Starts serving. Call once, after the server registered the session.
  void start();

 protected:
  // Bytes arrived; what to do with them is the server file's choice. It
  // ends by queue_reply() and read_next(), or by finish(). `chunk` is what
  // one read returned, whole requests or parts of them, in the session's
  // read buffer, which the next read reuses.
  virtual void serve_chunk(cs::ByteView chunk) = 0;

  void queue_reply(cs::Bytes reply);
  // Reads the next request, unless backpressure paused reading (then
  // do_write's handler resumes it once the queue drains).
  void read_next() {
    if (!reading_paused_) do_read();
  }
  void finish(std::string why) override;  // no more input: close once the replies are out
  void close(const std::string& why) override;

  std::shared_ptr<CallbackSession> shared() {
    return std::static_pointer_cast<CallbackSession>(shared_from_this());
  }

 private:
  void do_read();  // whatever arrived, up to the read buffer's size
  void do_write();
  void watch_deadlines();  // the idle and request timeouts

  std::deque<cs::Bytes> write_queue_;  // replies waiting for the next write
  std::size_t queued_bytes_ = 0;       // queued or being written
  std::vector<cs::Bytes> writing_;     // replies of the write in flight
  std::vector<asio::const_buffer> write_buffers_;  // writing_, as one buffer sequence
  bool reading_paused_ = false;     // backpressure: resumed by do_write's handler
  std::optional<std::string> finish_reason_;  // set when input ended
};

inline void CallbackSession::start() {
  // Hop onto the strand first: from here on every step of this session runs
  // there, including this one.
  asio::dispatch(socket_.get_executor(), [self = shared()] {
    cs::log_info("session ", self->id_, ": accepted ", self->peer_);
    cs::Bytes greeting;  // shift greets; framed does not
    self->protocol_->greet(greeting);
    self->queue_reply(std::move(greeting));
    if (self->deadlines_.enabled()) self->watch_deadlines();
    self->do_read();
  });
}

// One read_some of whatever has arrived, however the stream is split: a
// request, several, or part of one; the protocol (cs::Session, in
// serve_chunk) puts the pieces together. One recv that brings a request,
// plus, usually, the one Asio tries as soon as the read starts, which finds
// nothing yet; reading a frame's header and then its body would take two
// that bring bytes, plus that one.
inline void CallbackSession::do_read() {
  socket_.async_read_some(read_buffer(),
                          [self = shared()](const error_code& error, std::size_t bytes) {
                            if (!self->read_completed(error, bytes)) return;
                            self->serve_chunk(self->received(bytes));
                          });
}

inline void CallbackSession::queue_reply(cs::Bytes reply) {
  if (reply.empty() || closed_) return;
  queued_bytes_ += reply.size();
  write_queue_.push_back(std::move(reply));
  if (queued_bytes_ > max_queued_reply_bytes) reading_paused_ = true;
  if (writing_.empty()) do_write();
}

// Only one write may be in flight on a socket: async_write is a loop of
// write_some calls, and two loops running at once could interleave their
// pieces on the wire. So replies wait in write_queue_, and this handler takes
// all of them at once: one gather write (a buffer sequence), each reply
// whole and in order. Its completion condition notes each piece sent, so a
// client that reads a large reply slowly is not idle.
inline void CallbackSession::do_write() {
  writing_.assign(std::make_move_iterator(write_queue_.begin()),
                  std::make_move_iterator(write_queue_.end()));
  write_queue_.clear();
  write_buffers_.clear();
  for (const cs::Bytes& reply : writing_) write_buffers_.push_back(asio::buffer(reply));
  // A span, not the vector: async_write keeps a copy of the sequence it is
  // given, and a copy of a vector would be an allocation per write.
  asio::async_write(
      socket_, std::span<const asio::const_buffer>(write_buffers_),
      noting_progress([this] { note_sent(); }),
      [self = shared()](const error_code& error, std::size_t bytes) {
        if (self->closed_) return;
        self->bytes_sent_ += bytes;
        if (bytes > 0) self->note_sent();
        if (error) return self->close(error.message());
        self->queued_bytes_ -= bytes;
        self->writing_.clear();
        if (!self->write_queue_.empty()) {
          self->do_write();
        } else if (self->finish_reason_) {
          return self->close(*self->finish_reason_);
        }
        if (self->reading_paused_ && self->queued_bytes_ <= max_queued_reply_bytes &&
            !self->finish_reason_) {
          self->reading_paused_ = false;
          self->do_read();
        }
      });
}

// The idle and request timeouts, as in Asio's timeouts example: the timer
// sleeps until the earliest deadline deadlines_ knows; if none has passed
// when it wakes (there was activity meanwhile, or the request completed),
// it sleeps again until the new one. Reads and writes only store times in
// deadlines_ (server_setup.hpp), they never touch the timer.
inline void CallbackSession::watch_deadlines() {
  deadline_timer_.expires_at(deadlines_.next_check(Clock::now()));
  deadline_timer_.async_wait([self = shared()](const error_code&) {
    if (self->closed_) return;
    if (const auto why = self->deadlines_.expired(Clock::now())) return self->close(*why);
    self->watch_deadlines();
  });
}

inline void CallbackSession::finish(std::string why) {
  if (writing_.empty()) return close(why);
  finish_reason_ = std::move(why);  // do_write's handler closes when the queue is empty
}

// Closing the socket cancels the outstanding read, write and wait: their
// handlers run with operation_aborted, see closed_, and drop the last
// shared_ptrs.
inline void CallbackSession::close(const std::string& why) { close_socket(why); }

}  // namespace part5
