// Exercise part6-3: thread affinity (docs/part6_qt.md, "Thread affinity").
//
// EchoConnection serves one client on a thread of its own: it echoes every
// byte it reads. Whoever starts it creates it on one thread (the main
// thread, which accepted the descriptor), moves it to a new QThread with
// moveToThread(), and connects QThread::started to start(), so start() runs
// on the new thread. Every QObject belongs to the thread it was created on
// (or moved to); its socket notifiers and timers work only there, and the
// events posted to it, and its slots called through queued or automatic
// connections, run on that thread. So the QTcpSocket must
// belong to the serving thread: created there, or created as a child of the
// connection before the move (moveToThread moves the children with it).
//
// Its check serves real clients this way while the main thread runs no
// event loop at all, and fails on any warning Qt prints ("QSocketNotifier:
// Socket notifiers cannot be enabled or disabled from another thread",
// "QObject: Cannot create children for a parent that is in a different
// thread", ...).
#pragma once

#include <QObject>
#include <QTcpSocket>
#include <QThread>

namespace exercises {

class EchoConnection : public QObject {
  Q_OBJECT
 public:
  // Runs on the accepting thread; takes ownership of `descriptor`.
  explicit EchoConnection(qintptr descriptor);
  ~EchoConnection() override;

  // Runs on the serving thread (connected to QThread::started).
  void start();

  // The thread the socket belongs to (nullptr before there is a socket).
  QThread* socket_thread() const { return socket_ == nullptr ? nullptr : socket_->thread(); }

 signals:
  // The client left: emitted once, on the serving thread.
  void finished();

 private:
  void echo();

  qintptr descriptor_;
  QTcpSocket* socket_ = nullptr;
};

}  // namespace exercises
