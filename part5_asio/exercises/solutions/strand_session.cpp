// Exercise part5-4: the reference solution; the contract is in
// strand_session.hpp.
#include "strand_session.hpp"

namespace part5ex {

void EchoSession::start() {
  // Both chains begin on the strand, and every handler they start is bound
  // to it: one handler of this session at a time, on whichever thread.
  asio::post(strand_, [self = shared_from_this()] {
    HandlerScope scope(*self);
    self->read_some();
    self->wait_tick();
  });
}

void EchoSession::read_some() {
  socket_.async_read_some(
      asio::buffer(buffer_),
      asio::bind_executor(strand_, [self = shared_from_this()](
                                       const boost::system::error_code& error, std::size_t n) {
        HandlerScope scope(*self);
        if (error || self->stopped_) return;
        self->write_back(n);
      }));
}

void EchoSession::write_back(std::size_t bytes) {
  asio::async_write(
      socket_, asio::buffer(buffer_.data(), bytes),
      asio::bind_executor(strand_, [self = shared_from_this()](
                                       const boost::system::error_code& error, std::size_t) {
        HandlerScope scope(*self);
        if (error || self->stopped_) return;
        self->read_some();
      }));
}

void EchoSession::wait_tick() {
  timer_.expires_after(tick_);
  timer_.async_wait(asio::bind_executor(
      strand_, [self = shared_from_this()](const boost::system::error_code& error) {
        HandlerScope scope(*self);
        if (error || self->stopped_) return;
        ++self->ticks_;
        self->wait_tick();
      }));
}

}  // namespace part5ex
