// Delivery of one Event to the Server's virtual notifications; shared by
// the backends (a friend of Server, so the notifications can stay
// protected).
#pragma once

#include "cpf/server.hpp"
#include "event.hpp"

namespace cpf::detail {

class Notifier {
 public:
  // What the backend must do after the notification returned.
  enum class Then {
    nothing,
    close_by_framework,  // on_connection_closing returned false
    take_over_closing,   // on_connection_closing returned true
    abort,               // a reset or error was reported, or the server threw
  };

  // Calls the notification for `event`. An exception thrown by the
  // server's code is logged and aborts this connection only. Runs on an I/O
  // thread; never throws.
  static Then deliver(Server& server, Connection& connection, Event& event) noexcept;

  static void server_stopping(Server& server) noexcept;
};

}  // namespace cpf::detail
