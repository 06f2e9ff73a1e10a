// The check of exercise part6-1 (run_limited_server, contract in
// limited_server.hpp): with max_clients served, the next client is closed at
// once without a greeting; once one leaves, a new client is served again.
// Built twice, against the starting point and against solutions/; ctest
// requires the first to fail and the second to pass.
#include <thread>

// Angle brackets: a quoted include would find the starting point's header
// next to this file even in the solution build.
#include <limited_server.hpp>

#include "check_support.hpp"

namespace exercises {
namespace {

TEST(LimitedServer, ClosesTheClientBeyondTheLimitUngreetedAndServesAgainWhenOneLeaves) {
  ensure_qt_application();
  cs::FileDescriptor listener = cs::listen_tcp("127.0.0.1", 0, 16);
  const std::uint16_t port = cs::local_endpoint(listener.get()).port;
  cs::ServerOptions options;
  options.shutdown_grace = 200ms;
  cs::StopSignal stop;
  LimitedReport report;
  std::thread server([&, fd = std::move(listener)]() mutable {
    report = run_limited_server(std::move(fd), options, 1, stop);
  });

  cs::FileDescriptor first = greeted_client(port);
  ASSERT_TRUE(first) << "the first client was not greeted";
  cs::FileDescriptor second = connect_to(port);
  const Reading reading = read_to_close(second.get());
  EXPECT_EQ(reading.bytes, "") << "the client beyond the limit was greeted";
  EXPECT_TRUE(reading.closed) << "the client beyond the limit was not closed at once";

  first.reset();
  EXPECT_TRUE(greeted_client(port)) << "after the first client left, nobody was served";

  stop.request_stop();
  server.join();
  EXPECT_GE(report.refused, 1u);
  EXPECT_GE(report.served, 2u);
}

}  // namespace
}  // namespace exercises
