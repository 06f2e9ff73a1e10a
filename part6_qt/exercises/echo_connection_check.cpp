// The check of exercise part6-3 (EchoConnection, contract in
// echo_connection.hpp): a client is served on a QThread of its own while the
// main thread, which accepted it and created the connection, runs no event
// loop; the socket must belong to the serving thread, and Qt must print no
// warning. Built twice, against the starting point and against solutions/;
// ctest requires the first to fail and the second to pass.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

// Angle brackets: a quoted include would find the starting point's header
// next to this file even in the solution build.
#include <echo_connection.hpp>

#include "check_support.hpp"

namespace exercises {
namespace {

// One client served as the contract says: accepted here, the connection
// created here, moved to a new thread, started there.
class Served {
 public:
  Served() {
    ensure_qt_application();
    cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 4);
    client_ = connect_to(cs::local_endpoint(listener.get()).port);
    cs::Accepted accepted = cs::accept_client(listener.get());
    EXPECT_EQ(accepted.kind, cs::Accepted::Kind::client);
    connection_ = new EchoConnection(accepted.fd.release());
    connection_->moveToThread(&thread_);
    QObject::connect(&thread_, &QThread::started, connection_, &EchoConnection::start);
    // Called next, on the serving thread as well (a direct connection runs
    // in the thread that emits). What it sees leaves through atomics:
    // ThreadSanitizer cannot see the order Qt's own (uninstrumented) event
    // queue creates, so a value carried back through a queued call would be
    // reported as a race on this test's own data.
    QObject::connect(
        &thread_, &QThread::started, connection_,
        [this] {
          socket_thread_.store(connection_->socket_thread());
          observed_.store(true);
        },
        Qt::DirectConnection);
    thread_.start();
  }

  ~Served() {
    client_.reset();
    // Deleted on its own thread as that thread finishes (deleteLater on an
    // object whose thread then quits), whatever the connection did.
    connection_->deleteLater();
    thread_.quit();
    thread_.wait();
  }  // then messages_ stops keeping what Qt prints

  int client() const { return client_.get(); }
  QThread* serving_thread() { return &thread_; }

  // The socket's thread, as seen on the serving thread right after start()
  // (see the constructor). Waits up to 3 s for start() to have run.
  QThread* socket_thread() {
    const auto deadline = std::chrono::steady_clock::now() + quickly;
    while (!observed_.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    return socket_thread_.load();
  }

 private:
  cs::FileDescriptor client_;
  QtMessages messages_;  // first: keeps what Qt prints until the thread has ended
  QThread thread_;
  EchoConnection* connection_ = nullptr;
  std::atomic<QThread*> socket_thread_{nullptr};
  std::atomic<bool> observed_{false};
};

TEST(EchoConnection, EchoesWhatTheClientSends) {
  Served served;
  ASSERT_TRUE(cs::send_all(served.client(), cs::as_bytes(std::string_view("hello"))));
  EXPECT_EQ(read_some(served.client(), 5).bytes, "hello")
      << "no echo within 3 s: the socket's notifications go to a thread with no event loop";
}

TEST(EchoConnection, TheSocketBelongsToTheServingThread) {
  Served served;
  QThread* const socket_thread = served.socket_thread();
  EXPECT_EQ(socket_thread, served.serving_thread())
      << (socket_thread == nullptr ? "there is no socket"
          : socket_thread == QThread::currentThread()
              ? "the socket belongs to the main thread, which created it"
              : "the socket belongs to some other thread");
}

TEST(EchoConnection, QtPrintsNoWarning) {
  {
    Served served;
    ASSERT_TRUE(cs::send_all(served.client(), cs::as_bytes(std::string_view("abc"))));
    read_some(served.client(), 3);
  }  // the client leaves, the connection and its thread end
  EXPECT_EQ(QtMessages::printed(), "") << "Qt printed warnings";
}

}  // namespace
}  // namespace exercises
