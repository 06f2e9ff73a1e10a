// QtConnection, the chapter's main class: one client served with a
// sans-I/O Session (common/) on whatever thread's event loop the connection
// lives in. All three Qt servers use it; they differ only in which thread
// that is (docs/part6_qt.md).
//
// Thread affinity (docs/part6_qt.md, "Thread affinity"): a QtConnection
// belongs to the thread that created it, or to the one it was moved to, and
// its slots run there; begin_shutdown() is reached from another thread
// only through a queued signal.
#pragma once

#include <QObject>
#include <QTcpSocket>
#include <QTimer>

#include <cstdint>
#include <memory>
#include <string>

#include "cs/options.hpp"
#include "cs/request_timer.hpp"
#include "cs/session.hpp"
#include "cs/stats.hpp"
#include "cs/stop.hpp"

namespace part6 {

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

  // Whether finished() was emitted. start() itself may emit it (a socket
  // it cannot use, a grace period already over), and a QEventLoop forgets
  // a quit() that comes before its exec(): check this before entering one.
  bool has_finished() const { return finished_; }

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

}  // namespace part6
