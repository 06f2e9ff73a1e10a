// The Qt client connection; see client_connection.hpp.
#include "client_connection.hpp"

#include <QNetworkProxy>

#include <algorithm>
#include <utility>

#include "cs/log.hpp"

namespace part6 {

namespace {

constexpr std::chrono::milliseconds first_backoff{100};
constexpr std::chrono::milliseconds longest_backoff{1000};

// The request's body: varied bytes, so a reply that is off by one position
// or comes from another request is caught. Never '^' or '$', which would
// change a shift message's meaning.
QByteArray make_body(std::size_t size, std::uint64_t seed) {
  QByteArray body(static_cast<qsizetype>(size), Qt::Uninitialized);
  for (std::size_t i = 0; i < size; ++i) {
    body[static_cast<qsizetype>(i)] = static_cast<char>('a' + (seed + i) % 26);
  }
  return body;
}

QByteArray shifted(const QByteArray& bytes) {
  QByteArray out = bytes;
  for (char& c : out) c = static_cast<char>(static_cast<unsigned char>(c) + 1);
  return out;
}

QByteArray frame_header(std::size_t length) {
  QByteArray header(4, Qt::Uninitialized);
  for (int i = 0; i < 4; ++i) header[i] = static_cast<char>((length >> (8 * (3 - i))) & 0xff);
  return header;
}

}  // namespace

ClientConnection::ClientConnection(ClientSettings settings, RequestBudget& budget, int id,
                                   QObject* parent)
    : QObject(parent),
      settings_(std::move(settings)),
      budget_(budget),
      id_(id),
      socket_(new QTcpSocket(this)),
      connect_timer_(new QTimer(this)),
      request_timer_(new QTimer(this)),
      reconnect_timer_(new QTimer(this)) {
  for (QTimer* timer : {connect_timer_, request_timer_, reconnect_timer_}) timer->setSingleShot(true);
  // Straight to the server: by default Qt asks the system's proxy settings
  // (libproxy, on a thread of its own) before every connection.
  socket_->setProxy(QNetworkProxy::NoProxy);
  connect(socket_, &QTcpSocket::connected, this, &ClientConnection::on_connected);
  connect(socket_, &QTcpSocket::readyRead, this, &ClientConnection::on_ready_read);
  connect(socket_, &QTcpSocket::errorOccurred, this, [this](QAbstractSocket::SocketError error) {
    switch (error) {
      case QAbstractSocket::HostNotFoundError:
        fail("host lookup failed for " + settings_.host.toStdString() + ": " +
             socket_->errorString().toStdString());
        break;
      case QAbstractSocket::ConnectionRefusedError:
        fail("connection refused by " + settings_.host.toStdString() + ":" +
             std::to_string(settings_.port));
        break;
      case QAbstractSocket::RemoteHostClosedError:
        fail("the server closed the connection");
        break;
      default:
        fail(socket_->errorString().toStdString());
    }
  });
  connect(connect_timer_, &QTimer::timeout, this, [this] {
    fail("not connected within " + std::to_string(settings_.connect_timeout.count()) + " ms");
  });
  connect(request_timer_, &QTimer::timeout, this, [this] {
    fail(std::string(awaiting_greeting_ ? "no greeting" : "no complete reply") + " within " +
         std::to_string(settings_.request_timeout.count()) + " ms");
  });
  connect(reconnect_timer_, &QTimer::timeout, this, &ClientConnection::connect_now);
}

void ClientConnection::start() { connect_now(); }

void ClientConnection::stop() {
  if (done_) return;
  finish();          // first, so that nothing abort() reports counts as an error
  socket_->abort();
}

void ClientConnection::connect_now() {
  if (done_) return;
  inbox_.clear();
  in_flight_ = false;
  awaiting_greeting_ = false;
  // The timer covers the host lookup and the TCP handshake together: a
  // resolver that never answers is as fatal as a SYN that is never answered.
  connect_timer_->start(settings_.connect_timeout);
  socket_->connectToHost(settings_.host, settings_.port);
}

void ClientConnection::on_connected() {
  connect_timer_->stop();
  if (settings_.nodelay) socket_->setSocketOption(QAbstractSocket::LowDelayOption, 1);
  cs::log_debug("client ", id_, ": connected");
  if (settings_.protocol == cs::Protocol::shift) {
    awaiting_greeting_ = true;  // the server speaks first
    request_timer_->start(settings_.request_timeout);
    on_ready_read();            // the greeting may have come with the handshake
  } else {
    send_request();
  }
}

void ClientConnection::send_request() {
  if (!claimed_ && !budget_.claim()) {
    finish();
    socket_->disconnectFromHost();
    return;
  }
  claimed_ = true;
  const QByteArray body = make_body(settings_.payload, requests_);
  QByteArray head;
  QByteArray tail;
  if (settings_.protocol == cs::Protocol::framed) {
    head = frame_header(body.size());
    tail = body;
    expected_ = frame_header(body.size()) + shifted(body);
  } else {
    head = "^" + body;
    tail = "$";
    expected_ = shifted(body);
  }
  if (settings_.split_writes) {
    socket_->write(head);
    socket_->flush();  // two segments on the wire, as a naive writer sends them
    socket_->write(tail);
  } else {
    socket_->write(head + tail);  // one buffer, one write
  }
  in_flight_ = true;
  request_timer_->start(settings_.request_timeout);
}

void ClientConnection::on_ready_read() {
  if (done_) return;
  inbox_ += socket_->readAll();
  if (awaiting_greeting_) {
    if (inbox_.isEmpty()) return;
    if (inbox_[0] != '*') {
      fail("the greeting was not '*'");
      return;
    }
    inbox_.remove(0, 1);
    awaiting_greeting_ = false;
    request_timer_->stop();
    send_request();
  }
  if (!in_flight_ || inbox_.size() < expected_.size()) return;
  if (inbox_.size() > expected_.size() || inbox_ != expected_) {
    fail("wrong reply (" + std::to_string(inbox_.size()) + " bytes, expected " +
         std::to_string(expected_.size()) + ")");
    return;
  }
  inbox_.clear();
  in_flight_ = false;
  request_timer_->stop();
  ++requests_;
  claimed_ = false;
  failures_in_a_row_ = 0;
  backoff_ = std::chrono::milliseconds::zero();
  emit completed();
  send_request();
}

void ClientConnection::fail(const std::string& reason) {
  // A failure being handled can report more (abort() may emit errorOccurred
  // again): one failure, one count.
  if (done_ || failing_) return;
  failing_ = true;
  ++errors_;
  ++failures_in_a_row_;
  connect_timer_->stop();
  request_timer_->stop();
  // abort() may emit errorOccurred again; the state below is already set.
  in_flight_ = false;
  socket_->abort();
  failing_ = false;
  if (failures_in_a_row_ > settings_.reconnects) {
    cs::log_warn("client ", id_, ": ", reason, "; giving up after ", failures_in_a_row_,
                 " failures in a row");
    gave_up_ = true;
    finish();
    return;
  }
  backoff_ = backoff_.count() == 0 ? first_backoff : std::min(backoff_ * 2, longest_backoff);
  cs::log_warn("client ", id_, ": ", reason, "; reconnecting in ", backoff_.count(), " ms");
  reconnect_timer_->start(backoff_);
}

void ClientConnection::finish() {
  if (done_) return;
  done_ = true;
  for (QTimer* timer : {connect_timer_, request_timer_, reconnect_timer_}) timer->stop();
  emit finished();
}

}  // namespace part6
