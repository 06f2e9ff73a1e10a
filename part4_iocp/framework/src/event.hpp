// What happened on a connection, on its way from the backend's completion
// handling to the server's notification (through the Sequencer).
#pragma once

#include <system_error>

#include "cpf/buffer.hpp"

namespace cpf::detail {

struct Event {
  enum class Kind {
    established,    // on_connection_established
    read,           // on_read_completed(buffer)
    write,          // on_write_completed(buffer)
    client_closed,  // on_client_closed
    reset,          // on_connection_reset
    error,          // on_connection_error(error)
    idle,           // on_idle_timeout
    deadline,       // on_deadline
    closing,        // on_connection_closing
    closed,         // on_connection_closed (always the last)
  };
  Kind kind = Kind::closed;
  BufferPtr buffer;
  std::error_code error;
};

}  // namespace cpf::detail
