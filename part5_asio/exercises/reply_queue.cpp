// Exercise part5-3: the starting point writes every reply at once; the
// contract is in reply_queue.hpp.
#include "reply_queue.hpp"

#include <utility>

namespace part5ex {

void ReplyQueue::queue(cs::Bytes reply) {
  if (failed_) return;
  unsent_ += reply.size();
  // EXERCISE(part5-3): this starts an async_write for every reply as soon as
  // it is queued, so two of them can be in flight on one socket: when the
  // replies are larger than the socket takes at once, their pieces
  // interleave on the wire. Keep one write in flight: queue the reply in
  // replies_, start write_next() only if none is writing_, and let each
  // write's completion start the next.
  auto data = std::make_shared<cs::Bytes>(std::move(reply));
  asio::async_write(socket_, asio::buffer(*data),
                    [self = shared_from_this(), data](const boost::system::error_code& error,
                                                      std::size_t) {
                      if (error) {
                        self->failed_ = true;
                        self->unsent_ = 0;
                        return;
                      }
                      self->unsent_ -= data->size();
                    });
}

// Unused by the starting point: write replies_.front() here, and from its
// completion the next one.
void ReplyQueue::write_next() {}

}  // namespace part5ex
