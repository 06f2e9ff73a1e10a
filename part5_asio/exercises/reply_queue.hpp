// Exercise part5-3: one write in flight (docs/part5_asio.md, "Exercises").
//
// asio::async_write is a composed operation: a loop of async_write_some
// calls, each sending what the socket takes, until the whole buffer is out.
// Start a second async_write on the same socket before the first has
// completed and the two loops take turns: when the kernel's send buffer is
// full, each waits for room, and whichever runs next sends its next piece.
// The peer receives the two replies cut into pieces and interleaved. Asio's
// documentation says it in one line: the program must ensure that no other
// write operation is performed on the stream until this one completes.
// Every server of this chapter therefore keeps a queue of replies and one
// write in flight (callback_session.hpp's queue_reply and do_write).
//
// ReplyQueue sends byte blocks on a socket in the order queue() is called,
// each whole, however many are queued at once. Call queue() on the socket's
// executor (one thread, or the session's strand). The ReplyQueue must be
// owned by a shared_ptr: the write in flight holds one, so the queue lives
// until its last write completes. After a write fails, the rest is dropped,
// failed() says so and unsent() is 0.
#pragma once

#include "asio_headers.hpp"

#include <cstddef>
#include <deque>
#include <memory>

#include "cs/bytes.hpp"

namespace part5ex {

class ReplyQueue : public std::enable_shared_from_this<ReplyQueue> {
 public:
  explicit ReplyQueue(tcp::socket& socket) : socket_(socket) {}

  // Sends `reply` after every reply queued before it.
  void queue(cs::Bytes reply);

  // Bytes queued and not yet completely sent.
  std::size_t unsent() const { return unsent_; }
  bool failed() const { return failed_; }

 private:
  void write_next();

  tcp::socket& socket_;
  std::deque<cs::Bytes> replies_;  // the one being written first, then those waiting
  std::size_t unsent_ = 0;
  bool writing_ = false;           // an async_write of replies_.front() is in flight
  bool failed_ = false;
};

}  // namespace part5ex
