// Exercise part5-1 (starting point): the GreetingServer without its limit.
// See limited_server.hpp for the contract.
#include "limited_server.hpp"

#include <array>
#include <functional>
#include <memory>

namespace part5ex {

namespace {

// One greeted client: kept alive by its pending read, as the chapter's
// sessions are; reads (and ignores) until the client goes, then says so.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::function<void()> on_gone)
      : socket_(std::move(socket)), on_gone_(std::move(on_gone)) {}

  void start() {
    asio::async_write(socket_, asio::buffer(&greeting, 1),
                      [self = shared_from_this()](const boost::system::error_code&, std::size_t) {});
    do_read();
  }

 private:
  void do_read() {
    socket_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](
                                                        const boost::system::error_code& error,
                                                        std::size_t) {
      if (error) return self->on_gone_();  // EOF or reset: the client is gone
      self->do_read();
    });
  }

  static constexpr char greeting = '*';
  tcp::socket socket_;
  std::array<char, 64> scratch_{};
  std::function<void()> on_gone_;
};

}  // namespace

GreetingServer::GreetingServer(asio::io_context& io, unsigned max_clients)
    : acceptor_(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
      port_(acceptor_.local_endpoint().port()),
      max_clients_(max_clients) {
  do_accept();
}

void GreetingServer::do_accept() {
  acceptor_.async_accept([this](const boost::system::error_code& error, tcp::socket socket) {
    if (error == asio::error::operation_aborted) return;
    // EXERCISE(part5-1): when max_clients_ > 0 and connected_ has reached
    // it, close `socket` here without greeting it (and do not serve it).
    if (!error) serve(std::move(socket));
    do_accept();
  });
}

void GreetingServer::serve(tcp::socket socket) {
  ++connected_;
  std::make_shared<Connection>(std::move(socket), [this] { --connected_; })->start();
}

}  // namespace part5ex
