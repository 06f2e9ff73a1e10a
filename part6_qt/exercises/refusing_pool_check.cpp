// The check of exercise part6-2 (run_refusing_pool_server, contract in
// refusing_pool.hpp): with the one pool thread busy, the next client gets
// busy_message and is closed at once; once the thread is free, a new client
// is served again. Built twice, against the starting point and against
// solutions/; ctest requires the first to fail and the second to pass.
#include <thread>

// Angle brackets: see limited_server_check.cpp.
#include <refusing_pool.hpp>

#include "check_support.hpp"

namespace exercises {
namespace {

TEST(RefusingPool, AnswersBusyAtOnceWhenThePoolIsFullAndServesAgainWhenAThreadFrees) {
  ensure_qt_application();
  cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 16);
  const std::uint16_t port = cs::local_endpoint(listener.get()).port;
  cs::ServerOptions options;
  options.threads = 1;
  options.shutdown_grace = 200ms;
  cs::StopSignal stop;
  PoolReport report;
  std::thread server([&, fd = std::move(listener)]() mutable {
    report = run_refusing_pool_server(std::move(fd), options, stop);
  });

  cs::FileDescriptor first = greeted_client(port);
  ASSERT_TRUE(first) << "the first client was not greeted";
  cs::FileDescriptor second = connect_to(port);
  const Reading reading = read_to_close(second.get());
  EXPECT_EQ(reading.bytes, std::string(busy_message))
      << "a client that found every pool thread busy should get busy_message at once";
  EXPECT_TRUE(reading.closed) << "a refused client should be closed after the busy message";

  first.reset();
  second.reset();
  EXPECT_TRUE(greeted_client(port)) << "after the first client left, nobody was served";

  stop.request_stop();
  server.join();
  EXPECT_GE(report.refused, 1u);
  EXPECT_GE(report.submitted, 2u);
}

}  // namespace
}  // namespace exercises
