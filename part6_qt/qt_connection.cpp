// One client on a Qt event loop; see qt_connection.hpp.
#include "qt_connection.hpp"

#include <QHostAddress>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "cs/socket.hpp"
#include "cs/log.hpp"
#include "qt_listener.hpp"

namespace part6 {

namespace {

std::string peer_of(const QTcpSocket& socket) {
  QHostAddress address = socket.peerAddress();
  // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
  bool is_ipv4 = false;
  const quint32 ipv4 = address.toIPv4Address(&is_ipv4);
  if (is_ipv4) address = QHostAddress(ipv4);
  return cs::Endpoint{address.toString().toStdString(), socket.peerPort()}.to_string();
}

}  // namespace

// --- QtConnection -----------------------------------------------------------

QtConnection::QtConnection(qintptr descriptor, const cs::ServerOptions& options,
                           const cs::StopSignal& stop, cs::ServerStats& stats, QObject* parent)
    : QObject(parent),
      descriptor_(descriptor),
      options_(options),
      stop_(stop),
      stats_(stats),
      request_deadline_(options.request_timeout) {}

QtConnection::~QtConnection() { close_descriptor(descriptor_); }

void QtConnection::start() {
  session_ = cs::make_session(options_.protocol, options_.session_limits());
  // Created here, not in the constructor: start() runs on the serving
  // thread, so the socket, its notifiers and the timers belong to that
  // thread from birth (a QObject belongs to the thread that creates it).
  socket_ = new QTcpSocket(this);
  idle_timer_ = new QTimer(this);
  request_timer_ = new QTimer(this);
  grace_timer_ = new QTimer(this);
  idle_timer_->setSingleShot(true);
  request_timer_->setSingleShot(true);
  grace_timer_->setSingleShot(true);
  // A coarse timer (the default) may fire up to 5% early: an idle client
  // would be closed before --idle-timeout-ms, a request cut before its
  // --request-timeout-ms (on_request_timer checks too), a stop's grace
  // period ended short. These are promises, so all three are precise; one
  // timer per connection is re-armed at most once per read or write.
  idle_timer_->setTimerType(Qt::PreciseTimer);
  request_timer_->setTimerType(Qt::PreciseTimer);
  grace_timer_->setTimerType(Qt::PreciseTimer);

  const qintptr descriptor = std::exchange(descriptor_, -1);
  if (!socket_->setSocketDescriptor(descriptor)) {
    close_descriptor(descriptor);
    end_reason_ = "cannot use the accepted socket: " + socket_->errorString().toStdString();
    finish();
    return;
  }
  peer_ = peer_of(*socket_);
  cs::log_info("serving ", peer_);
  socket_->setReadBufferSize(read_buffer_limit);
  // Each reply goes out in one write, so Nagle has nothing to coalesce.
  socket_->setSocketOption(QAbstractSocket::LowDelayOption, 1);

  connect(socket_, &QTcpSocket::readyRead, this, &QtConnection::process_input);
  connect(socket_, &QTcpSocket::bytesWritten, this, [this](qint64 written) {
    bytes_out_ += static_cast<std::uint64_t>(written);
    on_bytes_written();
  });
  connect(socket_, &QTcpSocket::disconnected, this, &QtConnection::on_disconnected);
  connect(socket_, &QTcpSocket::errorOccurred, this, [this](QAbstractSocket::SocketError error) {
    // The peer's FIN is reported as an "error" too; it is the normal end.
    if (end_reason_.empty()) {
      end_reason_ = error == QAbstractSocket::RemoteHostClosedError
                        ? "client closed"
                        : socket_->errorString().toStdString();
    }
  });
  connect(idle_timer_, &QTimer::timeout, this, [this] {
    close_because("idle for " + std::to_string(options_.idle_timeout.count()) + " ms", false);
  });
  connect(request_timer_, &QTimer::timeout, this, &QtConnection::on_request_timer);
  connect(grace_timer_, &QTimer::timeout, this,
          [this] { close_because("shutdown grace period over", false); });

  cs::Bytes greeting;
  session_->greet(greeting);
  if (!greeting.empty()) {
    socket_->write(reinterpret_cast<const char*>(greeting.data()),
                   static_cast<qint64>(greeting.size()));
    socket_->flush();
  }
  touch();
  if (stop_.stop_requested()) begin_shutdown();
}

void QtConnection::begin_shutdown() {
  if (socket_ == nullptr || finished_ || grace_timer_->isActive()) return;
  using namespace std::chrono;
  auto stopped_at = stop_.stop_time();
  // request_stop() sets the flag a moment before it records the time.
  if (stopped_at.time_since_epoch().count() == 0) stopped_at = steady_clock::now();
  const auto left = duration_cast<milliseconds>(stopped_at + options_.shutdown_grace -
                                                steady_clock::now());
  if (left <= milliseconds::zero()) {
    close_because("shutdown grace period over", false);
    return;
  }
  grace_timer_->start(left + milliseconds(1));  // never a millisecond early
}

void QtConnection::process_input() {
  if (finished_) return;
  if (closing_) {
    socket_->readAll();  // the verdict was to close; later bytes get no reply
    return;
  }
  // Stops while too many replies wait to be sent; on_bytes_written() comes
  // back. Until then the bytes stay in Qt's bounded read buffer, then in the
  // kernel's, and TCP flow control slows the client down.
  while (socket_->bytesAvailable() > 0 && socket_->bytesToWrite() <= write_high_water) {
    const QByteArray chunk = socket_->read(read_buffer_limit);
    bytes_in_ += static_cast<std::uint64_t>(chunk.size());
    touch();
    cs::Bytes replies;
    const cs::Verdict verdict = session_->on_receive(
        cs::ByteView(reinterpret_cast<const cs::Byte*>(chunk.constData()),
                     static_cast<std::size_t>(chunk.size())),
        replies);
    request_deadline_.after_receive(*session_, cs::RequestTimer::Clock::now());
    arm_request_timer();
    if (!replies.empty()) {
      socket_->write(reinterpret_cast<const char*>(replies.data()),
                     static_cast<qint64>(replies.size()));
      // Hand the replies to the kernel now rather than on the next loop
      // iteration: if the client's FIN is read first, QTcpSocket closes and
      // discards its write buffer.
      socket_->flush();
    }
    if (verdict.close) {
      cs::log_warn("protocol error from ", peer_, ": ", verdict.reason);
      close_because(verdict.reason, true);
      return;
    }
  }
}

void QtConnection::on_bytes_written() {
  touch();
  if (!closing_ && socket_->bytesToWrite() <= write_high_water && socket_->bytesAvailable() > 0) {
    process_input();
  }
}

void QtConnection::on_disconnected() {
  if (end_reason_.empty()) end_reason_ = "client closed";
  finish();
}

void QtConnection::touch() {
  if (options_.idle_timeout.count() > 0 && idle_timer_ != nullptr) {
    idle_timer_->start(options_.idle_timeout);
  }
}

void QtConnection::arm_request_timer() {
  using namespace std::chrono;
  const auto deadline = request_deadline_.deadline();
  if (!deadline) {
    request_timer_->stop();
    return;
  }
  // Rounded up, so the timer never fires before the deadline; a deadline
  // already passed fires at the next loop iteration (a negative interval
  // would be refused with a warning).
  const auto left = ceil<milliseconds>(*deadline - cs::RequestTimer::Clock::now());
  request_timer_->start(std::max(left, milliseconds::zero()));
}

void QtConnection::on_request_timer() {
  if (finished_ || closing_) return;
  if (!request_deadline_.expired(cs::RequestTimer::Clock::now())) {
    arm_request_timer();  // the timer's clock ran a little ahead of ours
    return;
  }
  close_because("request not complete after " +
                    std::to_string(request_deadline_.limit().count()) + " ms",
                false);
}

void QtConnection::close_because(const std::string& reason, bool flush_first) {
  if (finished_) return;
  if (end_reason_.empty() || !closing_) end_reason_ = reason;
  closing_ = true;
  if (flush_first) {
    // Sends what is buffered, then closes; disconnected() follows. The idle
    // and grace timers keep running, so a client that never reads its last
    // replies cannot keep the connection half-closed forever.
    socket_->disconnectFromHost();
  } else {
    socket_->abort();
  }
  if (socket_->state() == QAbstractSocket::UnconnectedState) finish();
}

void QtConnection::finish() {
  if (finished_) return;
  finished_ = true;
  if (idle_timer_ != nullptr) idle_timer_->stop();
  if (request_timer_ != nullptr) request_timer_->stop();
  if (grace_timer_ != nullptr) grace_timer_->stop();
  const std::uint64_t requests = session_ ? session_->requests() : 0;
  stats_.add_connection(requests, bytes_in_, bytes_out_);
  cs::log_info("closing ", peer_.empty() ? std::string("a client") : peer_, ": ", end_reason_,
               " (", requests, " requests)");
  emit finished();
}

}  // namespace part6
