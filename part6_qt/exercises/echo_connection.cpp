// Exercise part6-3: the starting point gives the socket to the wrong
// thread; the contract is in echo_connection.hpp.
#include "echo_connection.hpp"

#include "cs/socket.hpp"

namespace exercises {

EchoConnection::EchoConnection(qintptr descriptor) : descriptor_(descriptor) {
  // EXERCISE(part6-3): the socket is created here, on the accepting thread,
  // with no parent, so moveToThread(connection) leaves it behind: its
  // notifiers belong to a thread that serves nothing, and start(), on the
  // serving thread, uses it from another thread. Create the socket where it
  // will be used (in start(), with `this` as its parent), or give it
  // `this` as parent here so that it moves with the connection.
  socket_ = new QTcpSocket;
  if (!socket_->setSocketDescriptor(descriptor_)) cs::FileDescriptor(static_cast<int>(descriptor_)).reset();
  descriptor_ = -1;
}

EchoConnection::~EchoConnection() {
  delete socket_;  // no parent: this object owns it
  if (descriptor_ >= 0) cs::FileDescriptor(static_cast<int>(descriptor_)).reset();
}

void EchoConnection::start() {
  connect(socket_, &QTcpSocket::readyRead, this, &EchoConnection::echo);
  connect(socket_, &QTcpSocket::disconnected, this, &EchoConnection::finished);
  echo();  // bytes that arrived before the connection was made
}

void EchoConnection::echo() { socket_->write(socket_->readAll()); }

}  // namespace exercises
