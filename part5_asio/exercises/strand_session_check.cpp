// Check of exercise part5-4: EchoSession (strand_session.hpp) runs its
// handlers one at a time on an io_context that 4 threads run. A client
// keeps the read chain busy while the timer chain ticks; the session's
// scaffolding counts handlers that began while another was running.
// Run: ./run exercise part5-4
#include <gtest/gtest.h>

#include <strand_session.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr int io_threads = 4;

struct Echoed {
  std::size_t round_trips = 0;
  bool all_correct = true;
};

// A blocking client: `for_how_long` of 100-byte messages, each echo checked.
Echoed chat(tcp::socket& client, std::chrono::milliseconds for_how_long) {
  Echoed echoed;
  const auto until = std::chrono::steady_clock::now() + for_how_long;
  std::string sent(100, ' ');
  std::string received(100, ' ');
  for (char round = 0; std::chrono::steady_clock::now() < until; ++round) {
    for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>('a' + (round + i) % 26);
    boost::system::error_code error;
    asio::write(client, asio::buffer(sent), error);
    if (!error) asio::read(client, asio::buffer(received), error);
    if (error || received != sent) {
      echoed.all_correct = false;
      break;
    }
    ++echoed.round_trips;
  }
  return echoed;
}

// What one session counted.
struct Counts {
  std::size_t overlaps = 0;
  std::size_t handlers = 0;
  std::size_t ticks = 0;
};

// `count` sessions served at once, each with its own client.
struct Served {
  std::vector<Counts> counts;
  std::vector<Echoed> echoed;
};

Served serve(int count, std::chrono::milliseconds for_how_long) {
  // Declared first, destroyed last: the sessions' sockets and timers belong
  // to it and must go before it does.
  asio::io_context io;
  asio::io_context client_io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  std::vector<tcp::socket> clients;
  std::vector<std::shared_ptr<part5ex::EchoSession>> sessions;
  for (int i = 0; i < count; ++i) {
    clients.emplace_back(client_io);
    clients.back().connect(acceptor.local_endpoint());
    sessions.push_back(std::make_shared<part5ex::EchoSession>(io, acceptor.accept(), 500us));
  }
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int i = 0; i < io_threads; ++i) threads.emplace_back([&] { io.run_for(30s); });
  for (auto& session : sessions) session->start();
  Served served;
  served.echoed.resize(static_cast<std::size_t>(count));
  std::vector<std::thread> talkers;
  for (int i = 0; i < count; ++i) {
    talkers.emplace_back([&, i] {
      served.echoed[static_cast<std::size_t>(i)] =
          chat(clients[static_cast<std::size_t>(i)], for_how_long);
    });
  }
  for (auto& talker : talkers) talker.join();
  for (auto& session : sessions) session->stop();
  for (auto& client : clients) client.close();
  guard.reset();
  for (auto& thread : threads) thread.join();  // every handler has run
  for (const auto& session : sessions) {
    served.counts.push_back({session->overlaps(), session->handlers(), session->ticks()});
  }
  return served;
}

TEST(StrandSession, EchoesEveryByte) {
  const Served served = serve(1, 300ms);
  EXPECT_TRUE(served.echoed[0].all_correct);
  EXPECT_GT(served.echoed[0].round_trips, 10u);
  EXPECT_GT(served.counts[0].ticks, 10u) << "the timer chain did not run";
}

TEST(StrandSession, NoTwoHandlersOfOneSessionRunAtOnce) {
  const Served served = serve(1, 1000ms);
  EXPECT_GT(served.counts[0].handlers, 100u);
  EXPECT_EQ(served.counts[0].overlaps, 0u)
      << "of " << served.counts[0].handlers << " handlers, " << served.counts[0].overlaps
      << " began while another handler of the same session was running: "
         "they are not on the session's strand";
}

TEST(StrandSession, EachOfSeveralSessionsRunsOneHandlerAtATime) {
  const Served served = serve(3, 1000ms);
  for (std::size_t i = 0; i < served.counts.size(); ++i) {
    EXPECT_TRUE(served.echoed[i].all_correct) << "session " << i;
    EXPECT_EQ(served.counts[i].overlaps, 0u)
        << "session " << i << ": " << served.counts[i].overlaps << " of "
        << served.counts[i].handlers << " handlers overlapped another of its own";
  }
}

}  // namespace
