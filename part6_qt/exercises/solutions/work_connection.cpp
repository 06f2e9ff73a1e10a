// Exercise part6-4: the reference solution; the contract is in
// work_connection.hpp.
//
// The request travels to the pool thread in a member, and the reply comes
// back in another, announced by a signal that a queued connection delivers
// on this object's thread. Lambdas would be shorter and as correct
// (QThreadPool::start(lambda), and QMetaObject::invokeMethod(this, lambda,
// Qt::QueuedConnection) to come back), but Qt hands them from thread to
// thread under its own locks, which ThreadSanitizer cannot see
// (docs/part6_qt.md, "ThreadSanitizer"): it would report each capture as a
// race. The atomic and the mutex below state the order Qt already
// guarantees in a form it checks, as PoolTask does (qt_pool_task.hpp).
#include "work_connection.hpp"

#include <QThreadPool>

#include <utility>

namespace exercises {

WorkConnection::WorkConnection(QTcpSocket* socket, Work work, QObject* parent)
    : QObject(parent), socket_(socket), work_(std::move(work)) {
  setAutoDelete(false);  // the pool runs it; its owner deletes it
  socket_->setParent(this);
  connect(socket_, &QTcpSocket::readyRead, this, &WorkConnection::serve);
  connect(socket_, &QTcpSocket::disconnected, this, &WorkConnection::on_disconnected);
  // Emitted on a pool thread, so queued: on_reply() runs on this object's
  // thread, which is the socket's.
  connect(this, &WorkConnection::replied, this, &WorkConnection::on_reply,
          Qt::QueuedConnection);
}

void WorkConnection::serve() {
  // One request of this connection at a time: its reply is written before
  // the next line is read, so the replies keep the order of the requests.
  // Lines that arrive meanwhile wait in the socket's buffer; on_reply()
  // comes back for them.
  if (busy_ || socket_->state() != QAbstractSocket::ConnectedState) return;
  if (!socket_->canReadLine()) {
    if (socket_->bytesAvailable() >= max_line) socket_->abort();  // no '\n' within max_line
    return;
  }
  QByteArray request = socket_->readLine(max_line);
  if (!request.endsWith('\n')) {  // longer than max_line
    socket_->abort();
    return;
  }
  busy_ = true;
  request_ = std::move(request);
  handed_over_.fetch_add(1, std::memory_order_release);  // last before the hand-over
  QThreadPool::globalInstance()->start(this);
}

void WorkConnection::run() {
  // On a pool thread. Of this object it touches only the request, the work
  // (never changed after the constructor), the reply under the mutex, and
  // the signal, which may be emitted from any thread. The mutex is held
  // until replied() has been emitted, and on_reply() takes it first: so
  // this object, which emits finished() (and may be deleted) only after
  // on_reply(), outlives every use of it here.
  handed_over_.load(std::memory_order_acquire);
  QByteArray reply = work_(std::exchange(request_, {}));
  const std::lock_guard lock(mutex_);
  reply_ = std::move(reply);
  emit replied();
}

void WorkConnection::on_reply() {
  QByteArray reply;
  {
    const std::lock_guard lock(mutex_);
    reply = std::exchange(reply_, {});
  }
  busy_ = false;
  // The client left while the work ran: its socket is closed, and this
  // reply was the last thing finished() waited for.
  if (socket_->state() != QAbstractSocket::ConnectedState) {
    emit finished();
    return;
  }
  socket_->write(reply);
  // To the kernel now: when QTcpSocket reads the client's FIN, it closes
  // and drops what its write buffer still holds.
  socket_->flush();
  serve();
}

void WorkConnection::on_disconnected() {
  // With work under way, on_reply() emits finished() when it comes back.
  if (!busy_) emit finished();
}

}  // namespace exercises
