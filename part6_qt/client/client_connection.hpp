// One client connection that sends requests and checks every reply, with
// the timeouts and the reconnection a real client needs: the Qt counterpart
// of part 5's Asio client, and the building block of the qt-client tool.
//
// A request is `payload` bytes: a frame (framed) or ^...$ (shift); the reply
// must be those bytes plus one. Header and body go out in one write unless
// split_writes asks for two (to show what Nagle does to that mistake).
//
// Failures it handles, each counted in errors() and logged in one line: the
// host lookup failing (QAbstractSocket::HostNotFoundError), the connection
// refused or not made within connect_timeout (the timer covers the lookup
// too), no complete reply within request_timeout, a wrong reply, and the
// server closing or resetting the connection. After a failure it reconnects
// after a back-off (100 ms, doubling up to 1 s) while at most `reconnects`
// failures happened in a row; a completed request resets the
// count. A request lost with its connection is sent again.
//
// Lifecycle: start() once; it emits finished() once, after the shared
// request budget is used up, stop() is called, or it gives up. Not thread-safe: use
// it on the thread it lives in (qt-client runs every connection on the main
// thread's event loop).
#pragma once

#include <QByteArray>
#include <QObject>
#include <QString>
#include <QTcpSocket>
#include <QTimer>

#include <chrono>
#include <cstdint>
#include <string>

#include "cs/session.hpp"

namespace part6 {

// Requests all connections of one run may start, shared by them (they run
// on one thread: no lock). A request lost with its connection and sent again
// keeps its claim.
struct RequestBudget {
  std::uint64_t limit = 0;  // 0: no limit (run until stop())
  std::uint64_t claimed = 0;
  bool claim() { return limit == 0 || claimed < limit ? (++claimed, true) : false; }
};

struct ClientSettings {
  QString host = QStringLiteral("127.0.0.1");
  quint16 port = 9090;
  cs::Protocol protocol = cs::Protocol::shift;
  std::size_t payload = 16;                     // bytes per request
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};
  unsigned reconnects = 3;                      // failures in a row before giving up
  bool nodelay = false;                         // TCP_NODELAY on the client socket
  bool split_writes = false;                    // header and body in two writes
};

class ClientConnection : public QObject {
  Q_OBJECT
 public:
  // `budget` is shared by the run's connections and must outlive them.
  ClientConnection(ClientSettings settings, RequestBudget& budget, int id,
                   QObject* parent = nullptr);

  void start();
  // Ends the run now: a request in flight is abandoned and not counted.
  void stop();

  std::uint64_t requests() const { return requests_; }
  std::uint64_t errors() const { return errors_; }
  bool gave_up() const { return gave_up_; }

 signals:
  void completed();  // one more request got its correct reply
  void finished();

 private:
  void connect_now();
  void on_connected();
  void on_ready_read();
  void send_request();
  void fail(const std::string& reason);
  void finish();

  ClientSettings settings_;
  RequestBudget& budget_;
  int id_;
  QTcpSocket* socket_;
  QTimer* connect_timer_;
  QTimer* request_timer_;
  QTimer* reconnect_timer_;
  QByteArray inbox_;
  QByteArray expected_;       // the reply the request in flight must get
  bool awaiting_greeting_ = false;
  bool in_flight_ = false;
  bool claimed_ = false;      // holds a claim on the budget for the next request
  bool done_ = false;
  bool failing_ = false;
  bool gave_up_ = false;
  unsigned failures_in_a_row_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::uint64_t requests_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace part6
