// The Qt servers' shared pieces around their connections; see qt_listener.hpp.
#include "qt_listener.hpp"

#include <QCoreApplication>
#include <QSocketNotifier>

#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>

#include "cs/acceptor.hpp"
#include "cs/log.hpp"

namespace part6 {

namespace {

// The most connections accept_pending() takes in one go.
constexpr int accept_batch = 64;

}  // namespace

void close_descriptor(qintptr descriptor) {
  if (descriptor >= 0) cs::FileDescriptor(static_cast<int>(descriptor)).reset();
}

// --- StopNotifier -----------------------------------------------------------

StopNotifier::StopNotifier(const cs::StopSignal& stop, QObject* parent)
    : QObject(parent), notifier_(new QSocketNotifier(stop.wait_fd(), QSocketNotifier::Read, this)) {
  connect(notifier_, &QSocketNotifier::activated, this, [this] {
    // The pipe is never drained (other threads may poll it too), so it
    // stays readable: disable the notifier or it fires on every iteration.
    notifier_->setEnabled(false);
    emit stopRequested();
  });
}

// --- DescriptorServer -------------------------------------------------------

DescriptorServer::DescriptorServer(QObject* parent)
    : QObject(parent), backoff_timer_(new QTimer(this)) {
  backoff_timer_->setSingleShot(true);
  connect(backoff_timer_, &QTimer::timeout, this, [this] {
    if (notifier_ != nullptr) notifier_->setEnabled(true);
  });
}

DescriptorServer::~DescriptorServer() { close(); }

void DescriptorServer::adopt(cs::FileDescriptor listener) {
  const cs::Endpoint endpoint = cs::local_endpoint(listener.get());
  // Non-blocking: accept_pending() takes connections until the backlog is
  // empty, and an empty backlog must answer EAGAIN rather than block the loop.
  const int flags = ::fcntl(listener.get(), F_GETFL);
  if (flags < 0 || ::fcntl(listener.get(), F_SETFL, flags | O_NONBLOCK) < 0) {
    throw cs::SetupError("cannot make the listening socket on " + endpoint.to_string() +
                         " non-blocking: " + std::strerror(errno));
  }
  close();
  listener_ = std::move(listener);
  notifier_ = new QSocketNotifier(listener_.get(), QSocketNotifier::Read, this);
  connect(notifier_, &QSocketNotifier::activated, this, &DescriptorServer::accept_pending);
  cs::announce_listening(endpoint);
}

void DescriptorServer::close() {
  backoff_timer_->stop();
  // The notifier goes first: it must not watch a descriptor that is closed
  // (and whose number the next open() may reuse).
  delete std::exchange(notifier_, nullptr);
  listener_.reset();
}

void DescriptorServer::accept_pending() {
  // At most accept_batch per wakeup, so that a crowd at the door cannot
  // starve the clients already in; the notifier fires again for the rest.
  for (int taken = 0; taken < accept_batch && notifier_ != nullptr; ++taken) {
    cs::Accepted accepted = cs::accept_client(listener_.get());
    switch (accepted.kind) {
      case cs::Accepted::Kind::client:
        // A receiver may call close() from here; the loop condition sees it.
        emit descriptorAccepted(accepted.fd.release());
        break;
      case cs::Accepted::Kind::retry:
        if (accepted.error == EAGAIN || accepted.error == EWOULDBLOCK) return;  // drained
        break;  // that one client gave up: take the next
      case cs::Accepted::Kind::exhausted:
        // The listener stays readable, so the notifier would fire at once
        // again: it sleeps until descriptors may have been freed.
        cs::log_warn_limited(accept_warnings_, "accept: ", std::strerror(accepted.error),
                             "; retrying in ", cs::accept_backoff.count(), " ms");
        notifier_->setEnabled(false);
        backoff_timer_->start(cs::accept_backoff);
        return;
      case cs::Accepted::Kind::fatal:
        cs::log_error("accept failed: ", std::strerror(accepted.error),
                      "; no longer accepting connections");
        close();
        return;
    }
  }
}

// --- OpenConnections --------------------------------------------------------

OpenConnections::OpenConnections(DescriptorServer& server, const StopNotifier& stop_notifier)
    : server_(server) {
  connect(&stop_notifier, &StopNotifier::stopRequested, this, [this] {
    cs::log_info("stopping: ", open_, " connections get the grace period");
    stopping_ = true;
    server_.close();
    if (open_ == 0) QCoreApplication::quit();
  });
}

void OpenConnections::closed() {
  if (--open_ == 0 && stopping_) QCoreApplication::quit();
}

}  // namespace part6
