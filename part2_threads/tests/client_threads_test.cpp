// ClientThreads (client_threads.hpp): every thread is joined, finished ones
// as the server goes, and --max-clients keeps the acceptor off the listener
// while the limit is reached, yet a stop still wakes it.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "client_threads.hpp"
#include "cs/socket.hpp"
#include "cs/stop.hpp"

namespace part2 {
namespace {

using namespace std::chrono_literals;

// How long a test waits for something that must happen.
constexpr auto deadline = 10s;
// How long a test watches for something that must not happen. An absence
// has no event to wait for: a correct registry passes however long this is;
// the window only has to be long enough for a broken one to show itself.
constexpr auto absence_window = 300ms;

// What a test's client bodies wait on until the test lets them finish.
class Gate {
 public:
  void open() {
    std::call_once(opened_, [this] { latch_.count_down(); });
  }
  void wait() { latch_.wait(); }

 private:
  std::latch latch_{1};
  std::once_flag opened_;
};

// Opens a gate when the test ends, even by a failed assertion, so that the
// registry's destructor (which joins) never waits for a body stuck at it.
// Declare it after the ClientThreads, so that it is destroyed first (and
// after a std::async acceptor too, if the stop alone might not free it).
struct OpenAtExit {
  Gate& gate;
  ~OpenAtExit() { gate.open(); }
};

// Requests a stop when the test ends, so that an acceptor still waiting in a
// std::async (whose future's destructor waits for it) always returns.
// Declare it after the future.
struct StopAtExit {
  cs::StopSignal& stop;
  ~StopAtExit() { stop.request_stop(); }
};

// A listening socket on an ephemeral loopback port, and a client connected
// to it that nobody has accepted yet (it sits in the backlog, so the
// listener is readable).
struct PendingClient {
  cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 16);
  cs::FileDescriptor client;

  void connect() {
    const cs::Endpoint where = cs::local_endpoint(listener.get());
    client.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(where.port);
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
              0);
  }
};

TEST(ClientThreads, JoinAllWaitsForEveryThread) {
  Gate gate;
  ClientThreads threads(0);
  OpenAtExit open_gate{gate};
  std::atomic<int> done{0};
  for (int i = 0; i < 5; ++i) {
    threads.start([&] {
      gate.wait();
      done.fetch_add(1);
    });
  }
  EXPECT_EQ(threads.running(), 5u);
  gate.open();
  threads.join_all();
  EXPECT_EQ(done.load(), 5);  // every body ran to its end before join_all returned
  EXPECT_EQ(threads.running(), 0u);
  EXPECT_EQ(threads.joined(), 5u);
}

TEST(ClientThreads, FinishedThreadsAreJoinedWhileTheAcceptorIsIdle) {
  Gate gate;
  ClientThreads threads(0);
  OpenAtExit open_gate{gate};
  PendingClient socket;  // no client connects: the acceptor stays idle
  cs::StopSignal stop;
  for (int i = 0; i < 3; ++i) threads.start([&] { gate.wait(); });
  auto acceptor = std::async(std::launch::async,
                             [&] { return threads.wait_for_client(socket.listener.get(), stop); });
  StopAtExit stop_at_exit{stop};
  gate.open();
  // The acceptor joins in its own thread and signals nothing a test could
  // wait on, so this polls the count, with a deadline.
  const auto give_up = std::chrono::steady_clock::now() + deadline;
  while (threads.joined() < 3 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(threads.joined(), 3u) << "finished threads were left unjoined by an idle acceptor";
  EXPECT_EQ(threads.running(), 0u);
  stop.request_stop();
  ASSERT_EQ(acceptor.wait_for(deadline), std::future_status::ready);
  EXPECT_FALSE(acceptor.get());
}

TEST(ClientThreads, WaitForClientReturnsWhenAClientIsWaiting) {
  ClientThreads threads(2);
  PendingClient socket;
  socket.connect();
  cs::StopSignal stop;
  EXPECT_TRUE(threads.wait_for_client(socket.listener.get(), stop));
}

TEST(ClientThreads, AtTheLimitTheAcceptorWaitsForAThreadToFinish) {
  Gate first_may_finish;
  Gate second_may_finish;
  ClientThreads threads(2);
  OpenAtExit open_first{first_may_finish};
  OpenAtExit open_second{second_may_finish};
  PendingClient socket;
  cs::StopSignal stop;
  threads.start([&] { first_may_finish.wait(); });
  threads.start([&] { second_may_finish.wait(); });
  socket.connect();  // a third client is waiting to be accepted

  auto acceptor = std::async(std::launch::async,
                             [&] { return threads.wait_for_client(socket.listener.get(), stop); });
  StopAtExit stop_at_exit{stop};
  EXPECT_EQ(acceptor.wait_for(absence_window), std::future_status::timeout)
      << "the acceptor went for a third client while two threads were running (limit 2)";

  first_may_finish.open();  // a slot frees: now the acceptor may go
  ASSERT_EQ(acceptor.wait_for(deadline), std::future_status::ready);
  EXPECT_TRUE(acceptor.get());
  EXPECT_GE(threads.joined(), 1u);  // the thread that freed the slot was joined
  EXPECT_LE(threads.running(), 1u);

  second_may_finish.open();
  threads.join_all();
  EXPECT_EQ(threads.joined(), 2u);
}

TEST(ClientThreads, AStopWakesAnAcceptorWaitingForASlot) {
  Gate may_finish;
  ClientThreads threads(1);
  OpenAtExit open_gate{may_finish};
  PendingClient socket;
  cs::StopSignal stop;
  threads.start([&] { may_finish.wait(); });
  socket.connect();

  auto acceptor = std::async(std::launch::async,
                             [&] { return threads.wait_for_client(socket.listener.get(), stop); });
  StopAtExit stop_at_exit{stop};
  OpenAtExit open_gate_first{may_finish};  // a stuck acceptor then returns too
  ASSERT_EQ(acceptor.wait_for(absence_window), std::future_status::timeout);
  stop.request_stop();  // the thread still runs: only the stop can wake the acceptor
  ASSERT_EQ(acceptor.wait_for(deadline), std::future_status::ready);
  EXPECT_FALSE(acceptor.get());

  may_finish.open();
  threads.join_all();
  EXPECT_EQ(threads.joined(), 1u);
}

TEST(ClientThreads, AStopWinsOverAWaitingClient) {
  ClientThreads threads(0);
  PendingClient socket;
  socket.connect();
  cs::StopSignal stop;
  stop.request_stop();
  EXPECT_FALSE(threads.wait_for_client(socket.listener.get(), stop));
}

TEST(ClientThreads, ABodyThatThrowsStillFinishes) {
  ClientThreads threads(1);
  threads.start([] { throw std::runtime_error("a bug in one connection"); });
  threads.join_all();
  EXPECT_EQ(threads.running(), 0u);
  EXPECT_EQ(threads.joined(), 1u);
}

TEST(ClientThreads, DestructorJoinsWhatIsStillRunning) {
  std::atomic<bool> finished{false};
  {
    ClientThreads threads(0);
    threads.start([&] {
      std::this_thread::sleep_for(50ms);  // still running when the registry goes
      finished.store(true);
    });
  }
  EXPECT_TRUE(finished.load());
}

}  // namespace
}  // namespace part2
