// What the three Qt servers share around their connections: the stop
// signal turned into a Qt signal, a listener that hands out raw
// descriptors, and the count of open connections that ends the main loop
// after the stop. The connection itself, the chapter's main class, is
// qt_connection.hpp; the application object and main() are qt_main.hpp.
//
// Thread affinity (docs/part6_qt.md, "Thread affinity"): every QObject here
// belongs to the thread that created it, or to the one it was moved to, and
// its slots run there. Calling a method from another thread is allowed only
// where the comment says so; everything else crosses threads through queued
// signals, which Qt delivers on the receiver's thread.
#pragma once

#include <QObject>
#include <QTimer>

#include "cs/log.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

class QSocketNotifier;

namespace part6 {

// Emits stopRequested() once, on the thread that created it, when the
// StopSignal fires: a QSocketNotifier watches the StopSignal's self-pipe, so
// SIGINT/SIGTERM arrive as an ordinary event-loop event. The signal handler
// never touches Qt (no Qt call is async-signal-safe). Not thread-safe: use
// it on its own thread; connect to it from anywhere.
class StopNotifier : public QObject {
  Q_OBJECT
 public:
  explicit StopNotifier(const cs::StopSignal& stop, QObject* parent = nullptr);

 signals:
  void stopRequested();

 private:
  QSocketNotifier* notifier_;
};

// The listener of the three servers: it adopts a listening socket made by
// cs::listen_tcp (so --host names, --backlog and SO_REUSEADDR behave as in
// every other chapter, and setup errors read the same), watches it with a
// QSocketNotifier, and announces each accepted connection as a raw
// descriptor, which the caller wraps in a QTcpSocket on the thread that will
// serve it.
//
// Why not QTcpServer: Qt 6.4's socket engine keeps the first error it
// records, and the EAGAIN that ends every accept loop is one. From then on
// a failing accept() (EMFILE when descriptors are used up) reads as
// "temporary", QTcpServer neither pauses nor emits acceptError(), and the
// listener, still readable, makes the loop call accept() without end at
// full CPU. Here cs::accept_client() sorts each failure: out of descriptors
// pauses the notifier for accept_backoff (with a warning at most once per
// interval), a broken listener stops accepting. Not thread-safe: lives on
// the main thread.
class DescriptorServer : public QObject {
  Q_OBJECT
 public:
  explicit DescriptorServer(QObject* parent = nullptr);
  ~DescriptorServer() override;

  // Takes ownership of `listener`, then prints the "listening on" line.
  // Throws cs::SetupError if it cannot be made non-blocking.
  void adopt(cs::FileDescriptor listener);

  // Stops accepting and closes the listener: clients still in the backlog
  // are reset. Idempotent.
  void close();

 signals:
  // A connection was accepted. The receiver owns `descriptor` and must
  // close it (or hand it to a QTcpSocket) exactly once.
  void descriptorAccepted(qintptr descriptor);

 private:
  void accept_pending();

  cs::FileDescriptor listener_;
  QSocketNotifier* notifier_ = nullptr;  // child of this, watches listener_
  QTimer* backoff_timer_;                // re-enables notifier_ after EMFILE
  cs::RepeatLimiter accept_warnings_;
};

// The shutdown of a server whose main thread sees every connection end
// (qt-server, qt-server-threads): on the stop it stops accepting (clients
// still in the backlog are reset) and quits the application's event loop as
// soon as no connection it counted is open. The connections get their
// grace period from the same stopRequested(). Make it before the first
// connection connects to stopRequested(), so that its slot runs first. Not
// thread-safe: lives on the main thread, where opened() and closed() are
// called.
class OpenConnections : public QObject {
 public:
  OpenConnections(DescriptorServer& server, const StopNotifier& stop_notifier);

  void opened() { ++open_; }
  void closed();

 private:
  DescriptorServer& server_;
  int open_ = 0;
  bool stopping_ = false;
};

// Closes a descriptor that no QTcpSocket took over.
void close_descriptor(qintptr descriptor);

}  // namespace part6
