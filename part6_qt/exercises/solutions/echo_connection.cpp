// Exercise part6-3: the reference solution; the contract is in
// echo_connection.hpp.
#include "echo_connection.hpp"

#include "cs/socket.hpp"

namespace exercises {

EchoConnection::EchoConnection(qintptr descriptor) : descriptor_(descriptor) {}

EchoConnection::~EchoConnection() {
  // socket_ is a child: deleted with this object, on the serving thread.
  if (descriptor_ >= 0) cs::FileDescriptor(static_cast<int>(descriptor_)).reset();
}

void EchoConnection::start() {
  // Here, on the serving thread: the socket, its notifiers and the slots
  // below all belong to this thread.
  socket_ = new QTcpSocket(this);
  if (!socket_->setSocketDescriptor(descriptor_)) {
    cs::FileDescriptor(static_cast<int>(descriptor_)).reset();
    descriptor_ = -1;
    emit finished();
    return;
  }
  descriptor_ = -1;
  connect(socket_, &QTcpSocket::readyRead, this, &EchoConnection::echo);
  connect(socket_, &QTcpSocket::disconnected, this, &EchoConnection::finished);
  echo();  // bytes that arrived before the connection was made
}

void EchoConnection::echo() { socket_->write(socket_->readAll()); }

}  // namespace exercises
