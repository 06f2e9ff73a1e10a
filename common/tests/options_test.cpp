// The shared command line: both ways of giving the port, defaults, and
// clear failures (exit status 2) for bad arguments.
#include <gtest/gtest.h>

#ifdef _WIN32
#include <winsock2.h>  // SOMAXCONN
#else
#include <sys/socket.h>  // SOMAXCONN
#endif

#include <vector>

#include "cs/options.hpp"

namespace cs {
namespace {

ServerOptions parse(std::vector<std::string> words, bool threads = false) {
  CommandLine command_line("test-server", "a server under test");
  if (threads) command_line.add_threads_option(4);
  words.insert(words.begin(), "test-server");
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  return command_line.parse(static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLine, Defaults) {
  const ServerOptions options = parse({});
  EXPECT_EQ(options.port, 9090);
  EXPECT_EQ(options.host, "127.0.0.1");
  EXPECT_EQ(options.protocol, Protocol::shift);
  EXPECT_EQ(options.backlog, default_backlog);
  EXPECT_EQ(options.max_frame, 1u << 20);
  EXPECT_EQ(options.idle_timeout.count(), 0);
  EXPECT_EQ(options.request_timeout.count(), 0);
  EXPECT_FALSE(options.quiet);
}

// SOMAXCONN (4096 on Linux), so that a burst of connects waits in the
// accept queue instead of overflowing it (cs/backlog.hpp).
TEST(CommandLine, DefaultBacklogIsSomaxconn) {
  EXPECT_EQ(default_backlog, SOMAXCONN);
  EXPECT_EQ(parse({"--backlog", "128"}).backlog, 128);
}

TEST(CommandLine, PortAsFirstArgumentLikeTheOriginalSeries) {
  EXPECT_EQ(parse({"7777"}).port, 7777);
}

TEST(CommandLine, PortAsOption) { EXPECT_EQ(parse({"--port", "0"}).port, 0); }

TEST(CommandLine, EveryCommonOption) {
  const ServerOptions options =
      parse({"--host", "::1", "--protocol", "framed", "--backlog", "10", "--idle-timeout-ms",
             "1500", "--request-timeout-ms", "700", "--shutdown-grace-ms", "300",
             "--max-frame", "64", "--quiet"});
  EXPECT_EQ(options.host, "::1");
  EXPECT_EQ(options.protocol, Protocol::framed);
  EXPECT_EQ(options.protocol_name, "framed");
  EXPECT_EQ(options.backlog, 10);
  EXPECT_EQ(options.idle_timeout.count(), 1500);
  EXPECT_EQ(options.shutdown_grace.count(), 300);
  EXPECT_EQ(options.request_timeout.count(), 700);
  EXPECT_EQ(options.connection_policy().request_timeout.count(), 700);
  EXPECT_EQ(options.max_frame, 64u);
  EXPECT_EQ(options.session_limits().max_frame, 64u);
  EXPECT_TRUE(options.quiet);
}

TEST(CommandLine, ThreadsOnlyWhereOffered) {
  EXPECT_EQ(parse({}, true).threads, 4u);
  EXPECT_EQ(parse({"--threads", "2"}, true).threads, 2u);
  EXPECT_EXIT(parse({"--threads", "2"}), ::testing::ExitedWithCode(2), "--threads");
}

ServerOptions parse_speaking_only(const std::string& name, std::vector<std::string> words) {
  CommandLine command_line("packet-server", "a server with a protocol of its own");
  command_line.speak_only(name);
  words.insert(words.begin(), "packet-server");
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  return command_line.parse(static_cast<int>(argv.size()), argv.data());
}

TEST(CommandLine, ServerWithAProtocolOfItsOwnAcceptsOnlyThatOne) {
  EXPECT_EQ(parse_speaking_only("packet", {}).protocol_name, "packet");
  EXPECT_EQ(parse_speaking_only("packet", {"--protocol", "packet"}).protocol_name, "packet");
  EXPECT_EXIT(parse_speaking_only("packet", {"--protocol", "shift"}),
              ::testing::ExitedWithCode(2), "speaks only the packet protocol, not 'shift'");
}

TEST(CommandLine, BadArgumentsExitWithStatus2AndSayWhy) {
  EXPECT_EXIT(parse({"--protocol", "morse"}), ::testing::ExitedWithCode(2), "morse");
  EXPECT_EXIT(parse({"--port", "70000"}), ::testing::ExitedWithCode(2), "65535");
  EXPECT_EXIT(parse({"1", "--port", "2"}), ::testing::ExitedWithCode(2), "port");
  EXPECT_EXIT(parse({"--max-frame", "-1"}), ::testing::ExitedWithCode(2), "max-frame");
}

TEST(CommandLine, WorkUsIsZeroUnlessGivenAndReachesTheSessions) {
  EXPECT_EQ(parse({}).work.count(), 0);
  EXPECT_EQ(parse({}).session_limits().work.count(), 0);
  const ServerOptions options = parse({"--work-us", "20000", "--max-frame", "64"});
  EXPECT_EQ(options.work.count(), 20000);
  EXPECT_EQ(options.session_limits().work.count(), 20000);
  EXPECT_EQ(options.session_limits().max_frame, 64u);
  EXPECT_EQ(parse({"--work-us", "0"}).work.count(), 0);
  EXPECT_EQ(parse({"--work-us", std::to_string(largest_work_us)}).work.count(), largest_work_us);
}

TEST(CommandLine, WorkUsRejectsOutOfRangeAndGarbage) {
  EXPECT_EXIT(parse({"--work-us", "-1"}), ::testing::ExitedWithCode(2), "work-us");
  EXPECT_EXIT(parse({"--work-us", std::to_string(largest_work_us + 1)}),
              ::testing::ExitedWithCode(2), "work-us");
  EXPECT_EXIT(parse({"--work-us", "lots"}), ::testing::ExitedWithCode(2), "work-us");
  EXPECT_EXIT(parse({"--work-us", "1.5"}), ::testing::ExitedWithCode(2), "work-us");
  EXPECT_EXIT(parse({"--work-us", "20ms"}), ::testing::ExitedWithCode(2), "work-us");
  EXPECT_EXIT(parse({"--work-us"}), ::testing::ExitedWithCode(2), "work-us");
}

TEST(CommandLine, WorkUsNotOfferedByAServerWithAProtocolOfItsOwn) {
  // Its sessions are not shift or framed ones, so the option would be
  // silently ignored; refused instead, like any option not offered.
  EXPECT_EXIT(parse_speaking_only("packet", {"--work-us", "10"}), ::testing::ExitedWithCode(2),
              "work-us");
}

TEST(CommandLine, HelpExitsZero) {
  EXPECT_EXIT(parse({"--help"}), ::testing::ExitedWithCode(0), "");
}

TEST(RunGuarded, SetupErrorsExitNonZeroWithTheMessage) {
  EXPECT_EXIT(std::exit(run_guarded("srv", [] { throw SetupError("port in use"); })),
              ::testing::ExitedWithCode(1), "srv: error: port in use");
  EXPECT_EQ(run_guarded("srv", [] {}), 0);
}

}  // namespace
}  // namespace cs
