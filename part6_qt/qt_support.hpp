// What the three Qt servers share: Qt's messages routed into the
// repository's log, the stop signal turned into a Qt signal, a listener that
// hands out raw descriptors, and QtConnection, which serves one client with
// a sans-I/O Session on whatever thread's event loop it lives in.
//
// Thread affinity (docs/part6_qt.md, "Thread affinity"): every QObject here
// belongs to the thread that created it, or to the one it was moved to, and
// its slots run there. Calling a method from another thread is allowed only
// where the comment says so; everything else crosses threads through queued
// signals, which Qt delivers on the receiver's thread.
#pragma once

#include <QObject>
#include <QPointer>
#include <QTcpSocket>
#include <QTimer>

#include <cstdint>
#include <memory>
#include <string>

#include "cs/log.hpp"
#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/session.hpp"
#include "cs/socket.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"

class QSocketNotifier;

namespace part6 {

// Sends Qt's own messages (qWarning from inside QtCore and QtNetwork, such as
// "QSocketNotifier: Socket notifiers cannot be enabled or disabled from
// another thread") through cs::log_*, so they are whole lines with time and
// thread id like every other log line, and tests can look for them. Qt still
// aborts on a warning when QT_FATAL_WARNINGS=1 is set. Call once in main(),
// before creating QCoreApplication.
void install_qt_message_handler();

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

// One client, served on the event loop of the thread that calls start():
// greets, feeds each chunk that arrives to the Session, writes what the
// Session appends (one write per chunk), and closes on the Session's verdict,
// the idle timeout (--idle-timeout-ms: nothing received or sent for that
// long), the request timeout (--request-timeout-ms: a request begun and not
// complete within that long, cs::RequestTimer), or the end of the shutdown
// grace period. Replies are
// flushed to the kernel at once: QTcpSocket has no half-close, and a peer's
// EOF makes it drop whatever is still in its write buffer.
//
// Backpressure: Qt reads at most read_buffer_limit bytes ahead, and the
// connection stops taking input while more than write_high_water bytes of
// replies wait to be sent, so a client that sends without reading stalls in
// TCP flow control instead of growing the server's memory.
//
// Lifecycle: construct on any thread (it owns the descriptor and closes it if
// never started), move to the serving thread, call start() there; it emits
// finished() exactly once, after adding its totals to the stats. The owner
// then deletes it on its thread (deleteLater()). Not thread-safe: every
// method runs on the thread it lives in; reach begin_shutdown() from another
// thread through a queued signal.
class QtConnection : public QObject {
  Q_OBJECT
 public:
  static constexpr qint64 read_buffer_limit = 64 * 1024;
  static constexpr qint64 write_high_water = 1024 * 1024;

  QtConnection(qintptr descriptor, const cs::ServerOptions& options, const cs::StopSignal& stop,
               cs::ServerStats& stats, QObject* parent = nullptr);
  ~QtConnection() override;

  // Wraps the descriptor in a QTcpSocket owned by this object and begins
  // serving. If a stop was already requested, the grace period starts at once.
  void start();

  // Starts the grace period: the connection is served until the deadline
  // shared by every connection (stop time + --shutdown-grace-ms), then
  // closed. Idempotent.
  void begin_shutdown();

 signals:
  void finished();

 private:
  void process_input();
  void on_bytes_written();
  void on_disconnected();
  void touch();
  void arm_request_timer();
  void on_request_timer();
  void close_because(const std::string& reason, bool flush_first);
  void finish();

  qintptr descriptor_;
  const cs::ServerOptions& options_;
  const cs::StopSignal& stop_;
  cs::ServerStats& stats_;
  std::unique_ptr<cs::Session> session_;
  QTcpSocket* socket_ = nullptr;  // child of this, created in start()
  QTimer* idle_timer_ = nullptr;
  QTimer* request_timer_ = nullptr;  // fires at request_deadline_.deadline()
  QTimer* grace_timer_ = nullptr;
  cs::RequestTimer request_deadline_;
  std::string peer_;
  std::string end_reason_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
  bool closing_ = false;
  bool finished_ = false;
};

// Closes a descriptor that no QTcpSocket took over.
void close_descriptor(qintptr descriptor);

}  // namespace part6
