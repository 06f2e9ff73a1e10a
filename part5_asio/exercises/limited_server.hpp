// Exercise part5-1: an admission limit (--max-clients) for an Asio server.
//
// GreetingServer is the smallest Asio server with sessions: it greets each
// client with '*' and keeps the connection open until the client closes it.
// Your task: with max_clients > 0, a client that connects while max_clients
// others are connected is closed at once, without the greeting; a slot frees
// up when a connected client leaves. max_clients == 0 means no limit.
//
// Thread-safety: everything runs on the io_context passed to the
// constructor, which the caller runs on one thread; port() is safe from any
// thread once the constructor returned.
#pragma once

#include "asio_headers.hpp"

#include <cstdint>

namespace part5ex {

class GreetingServer {
 public:
  // Listens on 127.0.0.1, on an ephemeral port, and starts accepting.
  GreetingServer(asio::io_context& io, unsigned max_clients);

  std::uint16_t port() const { return port_; }

 private:
  void do_accept();
  void serve(tcp::socket socket);

  tcp::acceptor acceptor_;
  std::uint16_t port_;
  unsigned max_clients_;
  unsigned connected_ = 0;  // clients greeted and not yet gone (io thread only)
};

}  // namespace part5ex
