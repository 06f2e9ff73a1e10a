// The check of exercise part6-4 (WorkConnection, contract in
// work_connection.hpp): a one-thread server of WorkConnections, whose
// requests cost real CPU, must answer a cheap request while a heavy one
// computes, keep one connection's replies in order, survive a client that
// leaves while its work runs, and write to each socket on the socket's own
// thread only, with no warning from Qt. Built twice, against the starting
// point and against solutions/; ctest requires the first to fail and the
// second to pass.
#include <QByteArray>
#include <QEventLoop>
#include <QThread>
#include <QThreadPool>
#include <QTimer>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// Angle brackets: a quoted include would find the starting point's header
// next to this file even in the solution build.
#include <work_connection.hpp>

#include "check_support.hpp"
#include "cs/cpu_work.hpp"
#include "qt_listener.hpp"

namespace exercises {
namespace {

// For a reply that waits for CPU work: the work is CPU time, which a
// loaded machine (two builds beside the check) stretches on the clock.
constexpr std::chrono::milliseconds work_deadline = 10s;


// The work every request costs: "<ms> <name>\n" computes for <ms> ms of the
// calling thread's CPU time and answers "<NAME>\n". It records, by name,
// the thread each request ran on and whether it is still running, which is
// how the tests know that the server is computing right now. Thread-safe
// (it runs wherever the connection runs it), through a std::mutex, which
// ThreadSanitizer sees.
class WorkLog {
 public:
  QByteArray run(const QByteArray& request) {
    const qsizetype space = request.indexOf(' ');
    const int ms = request.left(space).toInt();
    const QByteArray name = request.mid(space + 1).trimmed();
    {
      const std::lock_guard lock(mutex_);
      Entry& entry = entries_[name.toStdString()];
      entry.thread = QThread::currentThread();
      entry.running = true;
    }
    changed_.notify_all();
    cs::spend_cpu(std::chrono::milliseconds(ms));
    {
      const std::lock_guard lock(mutex_);
      entries_[name.toStdString()].running = false;
      entries_[name.toStdString()].done = true;
    }
    changed_.notify_all();
    return name.toUpper() + '\n';
  }

  // Waits (up to `timeout`) until the request called `name` has begun.
  bool wait_started(const std::string& name, std::chrono::milliseconds timeout = quickly) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return entries_.count(name) != 0; });
  }

  // Waits (up to `timeout`) until no request is running.
  bool wait_idle(std::chrono::milliseconds timeout = quickly) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return std::none_of(entries_.begin(), entries_.end(),
                          [](const auto& entry) { return entry.second.running; });
    });
  }

  bool done(const std::string& name) {
    const std::lock_guard lock(mutex_);
    const auto entry = entries_.find(name);
    return entry != entries_.end() && entry->second.done;
  }

  // The thread the request called `name` ran on (nullptr if it never ran).
  QThread* thread_of(const std::string& name) {
    const std::lock_guard lock(mutex_);
    const auto entry = entries_.find(name);
    return entry == entries_.end() ? nullptr : entry->second.thread;
  }

  std::vector<std::string> running() {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    for (const auto& [name, entry] : entries_) {
      if (entry.running) names.push_back(name);
    }
    return names;
  }

 private:
  struct Entry {
    QThread* thread = nullptr;
    bool running = false;
    bool done = false;
  };
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Entry> entries_;
};

// The socket the server gives each WorkConnection: a QTcpSocket that counts
// the writes made to it, those made from a thread other than its own, and
// those made after its client left. QIODevice::write() reaches the socket
// through writeData(), whatever the caller. Qt itself is no reliable judge
// of either mistake: it warns about a write from another thread only when
// the write has to switch a notifier on, and refuses a write to a
// disconnected socket silently.
std::atomic<int> writes{0};
std::atomic<int> writes_off_thread{0};
std::atomic<int> writes_after_close{0};

class CheckedSocket : public QTcpSocket {
 protected:
  qint64 writeData(const char* data, qint64 size) override {
    writes.fetch_add(1);
    if (QThread::currentThread() != thread()) writes_off_thread.fetch_add(1);
    if (state() != QAbstractSocket::ConnectedState) writes_after_close.fetch_add(1);
    return QTcpSocket::writeData(data, size);
  }
};

// A one-thread server of WorkConnections on a thread of its own, with an
// event loop, as qt-server runs them: a listener that hands out
// descriptors, a CheckedSocket and a WorkConnection for each.
class Server {
 public:
  Server() : listener_(cs::listen_tcp("127.0.0.1", 0, 16)) {
    port_ = cs::local_endpoint(listener_.get()).port;
    thread_ = std::thread([this] { run(); });
    // Waits for the server thread's QThread, which the tests compare with.
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, quickly, [&] { return server_thread_ != nullptr; });
  }

  ~Server() {
    stop_.request_stop();
    thread_.join();
  }

  std::uint16_t port() const { return port_; }
  WorkLog& log() { return log_; }

  QThread* server_thread() {
    const std::lock_guard lock(mutex_);
    return server_thread_;
  }

  // Waits (up to `timeout`) until every connection made so far emitted
  // finished(); false if one did not.
  bool wait_all_finished(std::chrono::milliseconds timeout = quickly) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return finished_ == opened_; });
  }

  // The requests whose work was still running when some connection
  // emitted finished().
  std::vector<std::string> running_at_finish() {
    const std::lock_guard lock(mutex_);
    return running_at_finish_;
  }

 private:
  void run() {
    QEventLoop loop;
    // The connections are deleted only at the end, after every piece of
    // work ended: a connection that emitted finished() too early is then
    // reported by the tests rather than crashing the check.
    std::optional<QObject> connections(std::in_place);
    part6::DescriptorServer server;
    part6::StopNotifier stop_notifier(stop_);
    int open = 0;
    bool stopping = false;

    QObject::connect(&server, &part6::DescriptorServer::descriptorAccepted, &*connections,
                     [&](qintptr descriptor) {
      auto* socket = new CheckedSocket;
      if (!socket->setSocketDescriptor(descriptor)) {
        part6::close_descriptor(descriptor);
        delete socket;
        return;
      }
      ++open;
      {
        const std::lock_guard lock(mutex_);
        ++opened_;
      }
      auto* connection = new WorkConnection(
          socket, [this](const QByteArray& request) { return log_.run(request); },
          &*connections);
      QObject::connect(connection, &WorkConnection::finished, &*connections, [&] {
        const std::vector<std::string> running = log_.running();
        {
          const std::lock_guard lock(mutex_);
          ++finished_;
          running_at_finish_.insert(running_at_finish_.end(), running.begin(), running.end());
        }
        changed_.notify_all();
        if (--open == 0 && stopping) loop.quit();
      });
    });
    QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &server, [&] {
      stopping = true;
      server.close();
      if (open == 0) loop.quit();
    });
    // A connection that never emits finished() must not hang the check.
    QTimer give_up;
    give_up.setSingleShot(true);
    QObject::connect(&stop_notifier, &part6::StopNotifier::stopRequested, &give_up,
                     [&] { give_up.start(quickly); });
    QObject::connect(&give_up, &QTimer::timeout, &loop, &QEventLoop::quit);

    server.adopt(std::move(listener_));
    {
      const std::lock_guard lock(mutex_);
      server_thread_ = QThread::currentThread();
    }
    changed_.notify_all();
    loop.exec();

    // Work still running belongs to a connection that finished too early
    // (or never finished); its reply is delivered before the connections
    // are deleted, so that a late reply finds its connection alive.
    log_.wait_idle(work_deadline);
    QThreadPool::globalInstance()->waitForDone(static_cast<int>(quickly.count()));
    QCoreApplication::sendPostedEvents();
    connections.reset();
    QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
  }

  cs::FileDescriptor listener_;
  std::uint16_t port_ = 0;
  cs::StopSignal stop_;
  WorkLog log_;
  std::mutex mutex_;
  std::condition_variable changed_;
  QThread* server_thread_ = nullptr;
  int opened_ = 0;
  int finished_ = 0;
  std::vector<std::string> running_at_finish_;
  std::thread thread_;
};

class WorkConnectionCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    ensure_qt_application();
    // With one pool thread (a one-core machine's default) the cheap request
    // would wait for the heavy one whatever the connection does.
    QThreadPool::globalInstance()->setMaxThreadCount(std::max(QThread::idealThreadCount(), 4));
    writes.store(0);
    writes_off_thread.store(0);
    writes_after_close.store(0);
    messages_.emplace();
    server_.emplace();
  }

  void TearDown() override {
    server_.reset();
    messages_.reset();
    EXPECT_EQ(QtMessages::printed(), "") << "Qt printed warnings";
  }

  Server& server() { return *server_; }

  static void send(int fd, std::string_view bytes) {
    ASSERT_TRUE(cs::send_all(fd, cs::as_bytes(bytes)));
  }

 private:
  std::optional<QtMessages> messages_;  // what Qt prints during a test
  std::optional<Server> server_;
};

// A request that computes for this long holds the server thread, if the
// work runs there, long past the moment a cheap request is answered when
// it does not.
constexpr std::string_view heavy_request = "500 heavy\n";

TEST_F(WorkConnectionCheck, TheWorkRunsOffTheSocketsThread) {
  cs::FileDescriptor client = connect_to(server().port());
  send(client.get(), "0 where\n");
  EXPECT_EQ(read_some(client.get(), 6).bytes, "WHERE\n");
  QThread* const ran_on = server().log().thread_of("where");
  ASSERT_NE(ran_on, nullptr) << "the request's work never ran";
  EXPECT_NE(ran_on, server().server_thread())
      << "the work ran on the socket's thread, inside its slot: while it computes, that "
         "thread's event loop serves nobody";
}

TEST_F(WorkConnectionCheck, ACheapRequestIsAnsweredWhileAHeavyOneComputes) {
  cs::FileDescriptor heavy = connect_to(server().port());
  send(heavy.get(), heavy_request);
  ASSERT_TRUE(server().log().wait_started("heavy")) << "the heavy request's work never began";

  cs::FileDescriptor cheap = connect_to(server().port());
  send(cheap.get(), "0 cheap\n");
  const Reading cheap_reply = read_some(cheap.get(), 6);
  const bool heavy_was_done = server().log().done("heavy");
  EXPECT_EQ(cheap_reply.bytes, "CHEAP\n");
  EXPECT_FALSE(heavy_was_done)
      << "the cheap request was answered only after the heavy one's 500 ms of work: the "
         "server thread computed, and accepted, read and answered nobody meanwhile";
  EXPECT_EQ(read_some(heavy.get(), 6, work_deadline).bytes, "HEAVY\n");
}

TEST_F(WorkConnectionCheck, OneConnectionsRepliesComeInRequestOrder) {
  cs::FileDescriptor client = connect_to(server().port());
  // One write: the connection has every line before the first reply, and
  // the cheap ones would overtake the slow ones if they ran side by side.
  send(client.get(), "300 first\n0 second\n100 third\n0 fourth\n0 fifth\n");
  const std::string expected = "FIRST\nSECOND\nTHIRD\nFOURTH\nFIFTH\n";
  EXPECT_EQ(read_some(client.get(), expected.size(), work_deadline).bytes, expected)
      << "the replies must come in the order of the requests, each once";
}

TEST_F(WorkConnectionCheck, AClientThatLeavesWhileItsWorkRunsIsLeftAlone) {
  {
    cs::FileDescriptor leaver = connect_to(server().port());
    send(leaver.get(), "300 leaver\n");
    ASSERT_TRUE(server().log().wait_started("leaver")) << "the request's work never began";
  }  // closed while its work runs
  EXPECT_TRUE(server().wait_all_finished(work_deadline))
      << "the connection of the client that left never emitted finished()";
  const std::vector<std::string> running = server().running_at_finish();
  EXPECT_TRUE(std::find(running.begin(), running.end(), "leaver") == running.end())
      << "finished() was emitted while the connection's work still ran: its owner may "
         "delete it then, and the reply would come back to a deleted object";
  EXPECT_EQ(writes_after_close.load(), 0)
      << "the reply was written to the socket of a client that had left: once it closed, "
         "the socket is no place for replies (and a socket deleted when it closed would "
         "crash the server)";

  // The server goes on serving.
  cs::FileDescriptor next = connect_to(server().port());
  send(next.get(), "0 next\n");
  EXPECT_EQ(read_some(next.get(), 5).bytes, "NEXT\n");
}

TEST_F(WorkConnectionCheck, TheRepliesAreWrittenOnTheSocketsThread) {
  cs::FileDescriptor first = connect_to(server().port());
  cs::FileDescriptor second = connect_to(server().port());
  send(first.get(), "50 one\n0 two\n");
  send(second.get(), "0 three\n20 four\n");
  EXPECT_EQ(read_some(first.get(), 8, work_deadline).bytes, "ONE\nTWO\n");
  EXPECT_EQ(read_some(second.get(), 11, work_deadline).bytes, "THREE\nFOUR\n");
  EXPECT_GE(writes.load(), 1) << "no reply went through the socket's write()";
  EXPECT_EQ(writes_off_thread.load(), 0)
      << "a reply was written from another thread than the socket's: a QTcpSocket may be "
         "used from its own thread only";
}

}  // namespace
}  // namespace exercises
