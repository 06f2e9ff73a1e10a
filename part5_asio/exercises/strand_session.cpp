// Exercise part5-4: the starting point runs the handlers without the
// session's strand; the contract is in strand_session.hpp.
#include "strand_session.hpp"

namespace part5ex {

void EchoSession::start() {
  // EXERCISE(part5-4): this handler and every completion handler below are
  // given to the io_context itself, so any free thread runs them, two of
  // one session at once. Give each to the session's strand_:
  // asio::post(strand_, ...) here, asio::bind_executor(strand_, handler)
  // for the read, the write and the timer.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    HandlerScope scope(*self);
    self->read_some();
    self->wait_tick();
  });
}

void EchoSession::read_some() {
  socket_.async_read_some(
      asio::buffer(buffer_),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t n) {
        HandlerScope scope(*self);
        if (error || self->stopped_) return;
        self->write_back(n);
      });
}

void EchoSession::write_back(std::size_t bytes) {
  asio::async_write(
      socket_, asio::buffer(buffer_.data(), bytes),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
        HandlerScope scope(*self);
        if (error || self->stopped_) return;
        self->read_some();
      });
}

void EchoSession::wait_tick() {
  timer_.expires_after(tick_);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
    HandlerScope scope(*self);
    if (error || self->stopped_) return;
    ++self->ticks_;
    self->wait_tick();
  });
}

}  // namespace part5ex
