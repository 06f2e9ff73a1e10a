// Exercise part4-1: who owns a buffer while an operation is in flight; the
// contract is in shared_buffer_echo.hpp.
#include "shared_buffer_echo.hpp"

#include <utility>

namespace exercises {

SharedBufferEcho::SharedBufferEcho(cpf::ServerOptions options) : cpf::Server(std::move(options)) {}

SharedBufferEcho::~SharedBufferEcho() { stop(); }

void SharedBufferEcho::on_connection_established(cpf::Connection& connection) {
  connection.read();
}

void SharedBufferEcho::on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) {
  // EXERCISE(part4-1): the write below takes a reference to `buffer` and owns
  // its bytes until on_write_completed; the next two lines clear them and
  // give them to a read while that write may still be waiting to send them.
  connection.write(buffer);
  buffer->clear();
  connection.read(std::move(buffer));
}

void SharedBufferEcho::on_write_completed(cpf::Connection&, cpf::BufferPtr buffer) {
  bytes_echoed_.fetch_add(buffer->size());
}

void SharedBufferEcho::on_client_closed(cpf::Connection& connection) {
  connection.close();  // graceful: the echoes already queued go first
}

}  // namespace exercises
