// Exercise part6-4: CPU work off the event loop, the reply back on the
// socket's thread (docs/part6_qt.md, "Exercises").
//
// WorkConnection serves one client of a line protocol on the event loop of
// the thread it lives on. Every line the client sends (at most max_line
// bytes, its '\n' included) is a request, and the reply to it is what
// `work` returns for it, written as is. The work costs CPU: the check's
// computes for as many milliseconds as the line asks (cs::spend_cpu). A
// slot runs to its end before its thread's event loop does anything else,
// so a request that computes for 500 ms inside readyRead holds every other
// client of that thread for 500 ms, however little they asked for. The
// starting point does exactly that.
//
// What the connection must do:
//   - run `work` off its thread, on QThreadPool::globalInstance() (`work` is
//     thread-safe; it may run for several connections at once);
//   - use the socket from the socket's own thread only: a reply computed on
//     a pool thread comes back to this thread through a queued call, and is
//     written here;
//   - answer every request once, byte-exact, in the order of the requests,
//     though the next line may arrive while the work of one still runs;
//   - leave alone a socket that closed while its work ran, and emit
//     finished() once, when the client has left and none of this
//     connection's work is still running: the owner may delete the
//     connection as soon as it is emitted.
//
// Edit work_connection.cpp, and the private part of the class below as your
// design needs; check your work with
//   ./run exercise part6-4
// The check is work_connection_check.cpp.
#pragma once

#include <QByteArray>
#include <QObject>
#include <QTcpSocket>

#include <functional>

namespace exercises {

class WorkConnection : public QObject {
  Q_OBJECT
 public:
  // Computes the reply to one request line ('\n' included). Thread-safe.
  using Work = std::function<QByteArray(const QByteArray& request)>;

  // The longest request line, '\n' included; a longer one closes the
  // connection, so a client cannot make it buffer without limit.
  static constexpr qint64 max_line = 1024;

  // Runs on the socket's thread: takes `socket`, connected and living on
  // that thread, as its child, and serves it from then on.
  WorkConnection(QTcpSocket* socket, Work work, QObject* parent = nullptr);

 signals:
  // The client left and no work of this connection is running: emitted
  // once, on the connection's thread.
  void finished();

 private:
  void serve();

  QTcpSocket* socket_;
  Work work_;
};

}  // namespace exercises
