// The load clients' shared command line and report (cs/load_client.hpp):
// asio-client and qt-client accept the same words and print the same JSON
// line, which part 7's scripts parse.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cs/load_client.hpp"

namespace cs {
namespace {

LoadClientOptions parse(std::vector<std::string> words) {
  LoadClientOptions options;
  CLI::App app("a load client under test", "test-client");
  add_load_client_options(app, options);
  words.insert(words.begin(), "test-client");
  std::vector<char*> argv;
  for (auto& word : words) argv.push_back(word.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return options;
}

// What report_load_client printed to stdout and stderr, and its status.
struct Report {
  std::string out;
  std::string err;
  int status = -1;
};

Report report(const LoadClientOptions& options, const LoadClientTotals& totals) {
  std::ostringstream out;
  std::ostringstream err;
  std::streambuf* const old_out = std::cout.rdbuf(out.rdbuf());
  std::streambuf* const old_err = std::cerr.rdbuf(err.rdbuf());
  Report result;
  result.status = report_load_client("test-client", options, totals);
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  result.out = out.str();
  result.err = err.str();
  return result;
}

TEST(LoadClientOptions, Defaults) {
  const LoadClientOptions options = parse({});
  EXPECT_EQ(options.host, "127.0.0.1");
  EXPECT_EQ(options.port, default_port);
  EXPECT_EQ(options.protocol(), Protocol::shift);
  EXPECT_EQ(options.clients, 1u);
  EXPECT_EQ(options.seconds, 10);
  EXPECT_EQ(options.requests, 0u);
  EXPECT_EQ(options.payload_bytes, 64u);
  EXPECT_EQ(options.connect_timeout().count(), 2000);
  EXPECT_EQ(options.request_timeout().count(), 5000);
  EXPECT_FALSE(options.split_writes);
  EXPECT_FALSE(options.nodelay);
}

TEST(LoadClientOptions, EveryOption) {
  const LoadClientOptions options =
      parse({"7000", "--host", "localhost", "--protocol", "framed", "--clients", "12",
             "--seconds", "2.5", "--requests", "300", "--payload-bytes", "1000",
             "--connect-timeout-ms", "150", "--request-timeout-ms", "250", "--split-writes",
             "--nodelay"});
  EXPECT_EQ(options.port, 7000);
  EXPECT_EQ(options.host, "localhost");
  EXPECT_EQ(options.protocol(), Protocol::framed);
  EXPECT_EQ(options.clients, 12u);
  EXPECT_EQ(options.seconds, 2.5);
  EXPECT_EQ(options.requests, 300u);
  EXPECT_EQ(options.payload_bytes, 1000u);
  EXPECT_EQ(options.connect_timeout().count(), 150);
  EXPECT_EQ(options.request_timeout().count(), 250);
  EXPECT_TRUE(options.split_writes);
  EXPECT_TRUE(options.nodelay);
  EXPECT_EQ(parse({"--port", "7001"}).port, 7001);
}

TEST(LoadClientOptions, OutOfRangeIsRefused) {
  for (const std::vector<std::string>& words : std::vector<std::vector<std::string>>{
           {"0"},
           {"65536"},
           {"--protocol", "line"},
           {"--clients", "0"},
           {"--clients", "10001"},
           {"--seconds", "0"},
           {"--payload-bytes", "0"},
           {"--payload-bytes", "1048577"},
           {"--connect-timeout-ms", "0"},
           {"--request-timeout-ms", "600001"},
       }) {
    EXPECT_THROW(parse(words), CLI::ParseError) << words[0] << " " << words.back();
  }
}

TEST(LoadClientReport, OneJsonLineOnStdoutAndASummaryOnStderr) {
  LoadClientOptions options = parse({"--protocol", "framed", "--clients", "4", "--nodelay"});
  const Report printed = report(options, {1000, 0, 2.0, {}});
  EXPECT_EQ(printed.out,
            "{\"requests\": 1000, \"errors\": 0, \"seconds\": 2.000, "
            "\"requests_per_second\": 500.000, \"clients\": 4, \"protocol\": \"framed\", "
            "\"payload_bytes\": 64, \"split_writes\": false, \"nodelay\": true}\n");
  EXPECT_EQ(printed.err,
            "test-client: 1000 requests in 2 s from 4 connection(s): 500 requests/s, 0 "
            "error(s)\n");
  EXPECT_EQ(printed.status, 0);
}

TEST(LoadClientReport, AnErrorOrNoReplyAtAllFailsTheRun) {
  const LoadClientOptions options = parse({});
  const Report with_error = report(options, {10, 1, 1.0, "request timed out"});
  EXPECT_EQ(with_error.status, 1);
  EXPECT_NE(with_error.err.find("test-client: first error: request timed out\n"),
            std::string::npos)
      << with_error.err;
  EXPECT_EQ(report(options, {0, 0, 1.0, {}}).status, 1);  // nothing answered is no success
  EXPECT_NE(report(options, {0, 0, 0.0, {}}).out.find("\"requests_per_second\": 0.000"),
            std::string::npos);
}

}  // namespace
}  // namespace cs
