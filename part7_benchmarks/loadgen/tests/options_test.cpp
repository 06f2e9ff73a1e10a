// The command line: defaults, each mode's options, and the rules that span
// options. A bad argument must be refused with exit code 2 and a message
// naming it, never silently ignored.
#include "options.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using loadgen::Mode;
using loadgen::ParseOutcome;

ParseOutcome parse(std::vector<std::string> args) {
  args.insert(args.begin(), "loadgen");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return loadgen::parse_arguments(static_cast<int>(argv.size()), argv.data());
}

TEST(Options, PingpongDefaults) {
  const auto out = parse({"pingpong", "--port", "9090"});
  ASSERT_TRUE(out.run) << out.message;
  EXPECT_EQ(out.options.mode, Mode::pingpong);
  EXPECT_EQ(out.options.port, 9090);
  EXPECT_EQ(out.options.host, "127.0.0.1");
  EXPECT_EQ(out.options.protocol, cs::Protocol::shift);
  EXPECT_EQ(out.options.connections, 1u);
  EXPECT_EQ(out.options.pipeline, 1u);
  EXPECT_FALSE(out.options.nodelay);
  EXPECT_FALSE(out.options.split_writes);
}

TEST(Options, PingpongEveryOption) {
  const auto out = parse({"pingpong", "--port", "1", "--protocol", "framed", "-c", "10",
                          "--threads", "2", "--pipeline", "8", "--size", "0", "--seconds", "0.5",
                          "--warmup", "0", "--nodelay", "--split-writes", "--connect-timeout", "2",
                          "--quiet"});
  ASSERT_TRUE(out.run) << out.message;
  const auto& o = out.options;
  EXPECT_EQ(o.protocol, cs::Protocol::framed);
  EXPECT_EQ(o.connections, 10u);
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(o.pipeline, 8u);
  EXPECT_EQ(o.size, 0u);
  EXPECT_DOUBLE_EQ(o.seconds, 0.5);
  EXPECT_DOUBLE_EQ(o.warmup, 0.0);
  EXPECT_TRUE(o.nodelay);
  EXPECT_TRUE(o.split_writes);
  EXPECT_DOUBLE_EQ(o.connect_timeout, 2.0);
  EXPECT_TRUE(o.quiet);
}

TEST(Options, TheOtherModes) {
  auto burst = parse({"burst", "--port", "5", "-c", "500", "--timeout", "3"});
  ASSERT_TRUE(burst.run) << burst.message;
  EXPECT_EQ(burst.options.mode, Mode::burst);
  EXPECT_EQ(burst.options.connections, 500u);
  EXPECT_DOUBLE_EQ(burst.options.timeout, 3.0);

  auto chat = parse({"chat", "--port", "5", "-c", "10", "--senders", "3", "--rate", "50",
                     "--size", "100", "--drain", "1"});
  ASSERT_TRUE(chat.run) << chat.message;
  EXPECT_EQ(chat.options.mode, Mode::chat);
  EXPECT_EQ(chat.options.senders, 3u);
  EXPECT_DOUBLE_EQ(chat.options.rate, 50.0);
  EXPECT_EQ(chat.options.size, 100u);
  EXPECT_DOUBLE_EQ(chat.options.join_timeout, 0.0);  // by default every client must join
  EXPECT_EQ(chat.options.in_flight, 0u);  // by default an open loop at --rate
  auto tolerant = parse({"chat", "--port", "5", "-c", "400", "--join-timeout", "1.5"});
  ASSERT_TRUE(tolerant.run) << tolerant.message;
  EXPECT_DOUBLE_EQ(tolerant.options.join_timeout, 1.5);
  auto closed = parse({"chat", "--port", "5", "-c", "500", "--senders", "0", "--in-flight", "2"});
  ASSERT_TRUE(closed.run) << closed.message;
  EXPECT_EQ(closed.options.senders, 0u);  // every client in the room
  EXPECT_EQ(closed.options.in_flight, 2u);

  auto idle = parse({"idle", "--port", "5", "-c", "10000", "--seconds", "0"});
  ASSERT_TRUE(idle.run) << idle.message;
  EXPECT_EQ(idle.options.mode, Mode::idle);
  EXPECT_EQ(idle.options.connections, 10000u);
  EXPECT_DOUBLE_EQ(idle.options.seconds, 0.0);
}

void expect_refused(std::vector<std::string> args, const std::string& mentions) {
  const auto out = parse(args);
  EXPECT_FALSE(out.run);
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.message.find(mentions), std::string::npos)
      << "message should mention '" << mentions << "': " << out.message;
}

TEST(Options, BadArgumentsAreRefusedWithAMessage) {
  expect_refused({}, "subcommand");
  expect_refused({"flood", "--port", "1"}, "flood");
  expect_refused({"pingpong"}, "--port");
  expect_refused({"pingpong", "--port", "0"}, "--port");
  expect_refused({"pingpong", "--port", "1", "--protocol", "chat"}, "--protocol");
  expect_refused({"pingpong", "--port", "1", "--pipeline", "0"}, "--pipeline");
  expect_refused({"pingpong", "--port", "1", "-c", "0"}, "--connections");
  expect_refused({"pingpong", "--port", "1", "--seconds", "-1"}, "--seconds");
  expect_refused({"pingpong", "--port", "1", "--size", "lots"}, "--size");
}

TEST(Options, AnOptionOfAnotherModeIsRefusedNotIgnored) {
  expect_refused({"burst", "--port", "1", "--pipeline", "4"}, "--pipeline");
  expect_refused({"chat", "--port", "1", "-c", "4", "--protocol", "shift"}, "--protocol");
  expect_refused({"idle", "--port", "1", "--senders", "2"}, "--senders");
}

TEST(Options, RulesAcrossOptions) {
  expect_refused({"chat", "--port", "1", "-c", "3", "--senders", "4"}, "--senders");
  expect_refused({"chat", "--port", "1", "-c", "1"}, "at least 2");
  expect_refused({"chat", "--port", "1", "-c", "3", "--size", "8"}, "--size");
  expect_refused({"chat", "--port", "1", "-c", "3", "--join-timeout", "-1"}, "--join-timeout");
  // A closed loop has no rate: both at once would leave one ignored.
  expect_refused({"chat", "--port", "1", "-c", "3", "--rate", "5", "--in-flight", "1"}, "--rate");
  expect_refused({"chat", "--port", "1", "-c", "3", "--in-flight", "-1"}, "--in-flight");
  expect_refused({"pingpong", "--port", "1", "--in-flight", "1"}, "--in-flight");
  expect_refused({"pingpong", "--port", "1", "--join-timeout", "1"}, "--join-timeout");
  expect_refused({"pingpong", "--port", "1", "--size", "0"}, "--size 1");
  expect_refused({"pingpong", "--port", "1", "-c", "2", "--threads", "3"}, "--threads");
}

TEST(Options, HelpIsNotAnError) {
  const auto top = parse({"--help"});
  EXPECT_FALSE(top.run);
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.message.find("pingpong"), std::string::npos);
  const auto mode = parse({"pingpong", "--help"});
  EXPECT_FALSE(mode.run);
  EXPECT_EQ(mode.exit_code, 0);
  EXPECT_NE(mode.message.find("--split-writes"), std::string::npos) << mode.message;
}

}  // namespace
