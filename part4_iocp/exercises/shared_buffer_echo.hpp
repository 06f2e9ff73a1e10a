// Exercise part4-1 (docs/part4_iocp.md, "Exercises"): who owns a buffer
// while an operation is in flight.
//
// An echo server on the completion-port framework (cpf): every byte a
// client sends comes back to it, in order. on_read_completed hands the
// server a buffer full of received bytes, and the cheapest echo there is
// writes that very buffer back (no copy). The starting point goes one step
// further to "save an allocation": it also reads the client's next bytes
// into the same buffer, straight after writing it.
//
// The framework counts references to buffers, so the memory stays alive for
// both operations and nothing crashes. That is exactly what makes the bug
// quiet. A write owns its bytes until on_write_completed: it may wait in the
// connection's queue behind earlier writes (a client that reads slowly), or
// sit in the kernel, which reads the bytes when it sends them. A read that
// clears and refills the buffer meanwhile changes what the write sends.
// Reference counting answers "when may this memory be freed", not "who may
// change these bytes now".
//
// The contract: every byte a client sends comes back exactly once, in order,
// however far behind the client falls in reading, and on_write_completed
// reports the size of what was sent. Copying each read's bytes into a new
// buffer for the write would keep it too, at the price of a copy per read;
// the framework lets the read's own buffer be the write's, as long as
// nothing else changes it until the write completes. The place to change
// is marked EXERCISE(part4-1) in shared_buffer_echo.cpp.
//
// Its check (shared_buffer_echo_check.cpp) runs the server in its process
// and a client on 127.0.0.1 that sends two megabytes before it reads any,
// so that the server's writes queue up while its reads go on.
#pragma once

#include <atomic>
#include <cstdint>

#include "cpf/server.hpp"

namespace exercises {

class SharedBufferEcho final : public cpf::Server {
 public:
  explicit SharedBufferEcho(cpf::ServerOptions options);
  ~SharedBufferEcho() override;

  // Bytes that on_write_completed reported sent, all connections. Thread-safe.
  std::uint64_t bytes_echoed() const { return bytes_echoed_.load(); }

 protected:
  void on_connection_established(cpf::Connection& connection) override;
  void on_read_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override;
  void on_write_completed(cpf::Connection& connection, cpf::BufferPtr buffer) override;
  void on_client_closed(cpf::Connection& connection) override;

 private:
  std::atomic<std::uint64_t> bytes_echoed_{0};
};

}  // namespace exercises
