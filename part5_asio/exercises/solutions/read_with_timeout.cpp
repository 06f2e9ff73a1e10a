// Exercise part5-2 (reference solution): a read raced against a timer.
// See read_with_timeout.hpp for the contract.
#include "read_with_timeout.hpp"

#include <memory>

namespace part5ex {

void async_read_some_with_timeout(tcp::socket& socket, asio::mutable_buffer buffer,
                                  std::chrono::milliseconds timeout, ReadHandler done) {
  // Shared by the two handlers; it lives until the later of them has run.
  // Both run on the socket's executor, so `finished` needs no lock.
  struct Race {
    asio::steady_timer timer;
    ReadHandler done;
    bool finished = false;
  };
  auto race = std::make_shared<Race>(Race{asio::steady_timer(socket.get_executor(), timeout),
                                          std::move(done)});

  race->timer.async_wait([race, &socket](const boost::system::error_code& error) {
    // operation_aborted: the read won and cancelled us. `finished` covers
    // the timer firing just as the read completed (cancel comes too late).
    if (error || race->finished) return;
    race->finished = true;
    boost::system::error_code ignored;
    socket.cancel(ignored);  // the read completes with operation_aborted, ignored below
    race->done(asio::error::timed_out, 0);
  });

  socket.async_read_some(buffer, [race](const boost::system::error_code& error, std::size_t n) {
    if (race->finished) return;  // the timer won
    race->finished = true;
    race->timer.cancel();
    race->done(error, n);
  });
}

}  // namespace part5ex
