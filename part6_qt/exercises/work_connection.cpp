// Exercise part6-4: the starting point computes on the socket's thread;
// the contract is in work_connection.hpp.
#include "work_connection.hpp"

#include <utility>

namespace exercises {

WorkConnection::WorkConnection(QTcpSocket* socket, Work work, QObject* parent)
    : QObject(parent), socket_(socket), work_(std::move(work)) {
  socket_->setParent(this);
  connect(socket_, &QTcpSocket::readyRead, this, &WorkConnection::serve);
  connect(socket_, &QTcpSocket::disconnected, this, &WorkConnection::finished);
}

void WorkConnection::serve() {
  while (socket_->canReadLine()) {
    const QByteArray request = socket_->readLine(max_line);
    if (!request.endsWith('\n')) {  // longer than max_line
      socket_->abort();
      return;
    }
    // EXERCISE(part6-4): the work runs here, inside the socket's readyRead
    // slot, on the thread whose event loop serves every client of this
    // thread: none of them is accepted, read or answered until it returns.
    // Run it on QThreadPool::globalInstance() instead, and bring the reply
    // back to this thread to write it (QMetaObject::invokeMethod(this, ...,
    // Qt::QueuedConnection)). Then keep the replies in request order (the
    // next line can arrive while the work of one runs), and mind the
    // client that leaves meanwhile: its socket is closed by the time the
    // reply comes back, and finished() lets the owner delete this object.
    socket_->write(work_(request));
    // To the kernel now: when QTcpSocket reads the client's FIN, it closes
    // and drops what its write buffer still holds.
    socket_->flush();
  }
  if (socket_->bytesAvailable() >= max_line) socket_->abort();  // no '\n' within max_line
}

}  // namespace exercises
