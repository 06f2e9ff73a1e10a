// Exercise part5-3: the reference solution; the contract is in
// reply_queue.hpp.
#include "reply_queue.hpp"

#include <utility>

namespace part5ex {

void ReplyQueue::queue(cs::Bytes reply) {
  if (failed_) return;
  unsent_ += reply.size();
  replies_.push_back(std::move(reply));
  if (!writing_) write_next();  // otherwise the write in flight starts it
}

void ReplyQueue::write_next() {
  if (replies_.empty()) return;
  writing_ = true;
  // replies_.front() stays where it is until this write completes: a deque
  // keeps its elements in place when others are pushed at the back.
  asio::async_write(socket_, asio::buffer(replies_.front()),
                    [self = shared_from_this()](const boost::system::error_code& error,
                                                std::size_t) {
                      self->writing_ = false;
                      if (error) {
                        self->failed_ = true;
                        self->replies_.clear();
                        self->unsent_ = 0;
                        return;
                      }
                      self->unsent_ -= self->replies_.front().size();
                      self->replies_.pop_front();
                      self->write_next();
                    });
}

}  // namespace part5ex
