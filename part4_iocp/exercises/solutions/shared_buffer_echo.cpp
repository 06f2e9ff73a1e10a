// Reference solution of exercise part4-1 (contract in shared_buffer_echo.hpp).
#include "shared_buffer_echo.hpp"

#include <utility>

namespace exercises {

SharedBufferEcho::SharedBufferEcho(cpf::ServerOptions options) : cpf::Server(std::move(options)) {}

SharedBufferEcho::~SharedBufferEcho() { stop(); }

void SharedBufferEcho::on_connection_established(cpf::Connection& connection) {
  connection.read();
}

void SharedBufferEcho::on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) {
  // The write owns this buffer, and the bytes in it, until
  // on_write_completed: hand it over, and let the next read take a buffer
  // of its own. The pool hands back a released buffer, so in steady state
  // this allocates nothing either (and on Linux a read holds no buffer at
  // all until bytes arrive).
  connection.write(std::move(buffer));
  connection.read();
}

void SharedBufferEcho::on_write_completed(cpf::Connection&, cpf::BufferPtr buffer) {
  bytes_echoed_.fetch_add(buffer->size());
}

void SharedBufferEcho::on_client_closed(cpf::Connection& connection) {
  connection.close();  // graceful: the echoes already queued go first
}

}  // namespace exercises
