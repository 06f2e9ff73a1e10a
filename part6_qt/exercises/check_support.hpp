// What the part 6 exercise checks share: a QCoreApplication for the whole
// test program (Qt's event loops need one, on any thread), a server running
// on its own thread, and blocking clients with a deadline on every read.
#pragma once

#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QString>
#include <QtGlobal>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client_testing.hpp"
#include "cs/options.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"
#include "qt_main.hpp"

namespace exercises {

using namespace std::chrono_literals;

// The clients connect and read with a deadline on every read
// (common/tests/client_testing.hpp): 3 s, so that a starting point that
// never does the thing fails quickly.
using cs::testing::quickly;
using cs::testing::Reading;
using cs::testing::read_some;
using cs::testing::read_to_close;

// Created once, on the main thread (gtest runs tests there), before any
// server thread starts its event loop; never destroyed, as Qt prefers.
inline void ensure_qt_application() {
  part6::choose_event_dispatcher();  // as the chapter's servers do (qt_main.hpp)
  static int argc = 1;
  static char name[] = "exercise-check";
  static char* argv[] = {name, nullptr};
  static auto* application = new QCoreApplication(argc, argv);
  (void)application;
}

// Keeps every message Qt prints while an instance lives (from any thread),
// for checks that Qt printed no warning ("QSocketNotifier: Socket notifiers
// cannot be enabled or disabled from another thread" and the like). Qt has
// one message handler per process: one instance at a time. What was kept
// stays readable after the instance ends, until the next one begins.
class QtMessages {
 public:
  QtMessages() {
    {
      const std::lock_guard lock(store().mutex);
      store().lines.clear();
    }
    qInstallMessageHandler(&keep);
  }
  ~QtMessages() { qInstallMessageHandler(nullptr); }
  QtMessages(const QtMessages&) = delete;
  QtMessages& operator=(const QtMessages&) = delete;

  // The messages kept, one per indented line; empty when Qt printed none.
  static std::string printed() {
    const std::lock_guard lock(store().mutex);
    std::string all;
    for (const std::string& line : store().lines) all += "\n  " + line;
    return all;
  }

 private:
  struct Store {
    std::mutex mutex;
    std::vector<std::string> lines;
  };
  static Store& store() {
    static Store kept;
    return kept;
  }
  static void keep(QtMsgType, const QMessageLogContext&, const QString& text) {
    const std::lock_guard lock(store().mutex);
    store().lines.push_back(text.toStdString());
  }
};

inline cs::FileDescriptor connect_to(std::uint16_t port) {
  return cs::testing::connect_loopback(port);
}

// Connects until a client is greeted (a slot may take a moment to free:
// the server learns of a departure only when it reads the FIN). Returns an
// invalid descriptor if none was greeted within `timeout`.
inline cs::FileDescriptor greeted_client(std::uint16_t port,
                                         std::chrono::milliseconds timeout = quickly) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    cs::FileDescriptor fd = connect_to(port);
    if (read_some(fd.get(), 1).bytes == "*") return fd;
  }
  return {};
}

// A fixture for the checks of a server function: the server runs on a
// thread of its own, on a listener on 127.0.0.1 port 0, until stop_server()
// (or the end of the test) requests its StopSignal; `Report` is what the
// function returns, read after the thread has ended.
template <typename Report>
class ServerCheck : public ::testing::Test {
 protected:
  // Starts `run(listener, options_, stop_)` on the server thread.
  template <typename Run>
  void start_server(Run run) {
    ensure_qt_application();
    cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 16);
    port_ = cs::local_endpoint(listener.get()).port;
    options_.shutdown_grace = 200ms;
    server_ = std::thread([this, run, fd = std::move(listener)]() mutable {
      report_ = run(std::move(fd), options_, stop_);
    });
  }

  // Stops the server and waits for its function to return.
  Report stop_server() {
    stop_.request_stop();
    if (server_.joinable()) server_.join();
    return report_;
  }

  void TearDown() override { stop_server(); }

  // A client the server should turn away: what it got before the close.
  Reading refused_client() {
    cs::FileDescriptor fd = connect_to(port_);
    return read_to_close(fd.get());
  }

  // What the server's threads read lives until the process ends, one set
  // per test, never freed and never reused: a pool server's Qt threads read
  // the options and the stop signal, and the wait for those threads to end
  // (QThreadPool::waitForDone) is invisible to ThreadSanitizer, since Qt is
  // not instrumented (part6_qt/tests/tsan.supp says more). Freed with the
  // fixture, they would be reported as a race with the last read. Reachable
  // from a static, so LeakSanitizer does not count them as leaked.
  struct Shared {
    cs::ServerOptions options;
    cs::StopSignal stop;
  };
  static Shared& kept_for_the_process() {
    static auto* kept = new std::vector<Shared*>;
    kept->push_back(new Shared);
    return *kept->back();
  }

  Shared& shared_ = kept_for_the_process();
  cs::ServerOptions& options_ = shared_.options;
  cs::StopSignal& stop_ = shared_.stop;
  std::uint16_t port_ = 0;
  std::thread server_;  // runs the server function; joined by stop_server()
  Report report_;       // written by server_, read after the join
};

}  // namespace exercises
