// common/tests/split_testing.hpp for sessions that cs::make_session() does
// not know: the same feeding and the same split-invariance assertion, but the
// session comes from a factory, so an exercise's class can be fed every split
// of an input exactly as the shipped protocols are.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>  // split_testing.hpp sorts without including it
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cs/session.hpp"
#include "split_testing.hpp"

namespace exercises::testing {

using cs::testing::every_byte;
using cs::testing::random_cuts;
using cs::testing::Run;

using SessionFactory = std::function<std::unique_ptr<cs::Session>()>;

// Feeds `input` to a fresh session in the chunks given by `cuts` (sorted
// positions where a new chunk starts), stopping at the first close verdict,
// as a server would. The greeting is part of the output.
inline Run feed_in_chunks(const SessionFactory& make_session, cs::ByteView input,
                          const std::vector<std::size_t>& cuts) {
  const auto session = make_session();
  Run run;
  session->greet(run.output);
  std::size_t start = 0;
  auto feed = [&](std::size_t end) {
    if (run.verdict.close || end <= start) return;
    run.verdict = session->on_receive(input.subspan(start, end - start), run.output);
    start = end;
  };
  for (const std::size_t cut : cuts) feed(cut);
  feed(input.size());
  return run;
}

// Asserts that every way of splitting `input` (each single split point, one
// byte at a time, and `random_rounds` random multi-way splits from a fixed
// seed, so a failure reproduces) gives the unsplit run's output and verdict.
inline void expect_split_invariant(const SessionFactory& make_session, cs::ByteView input,
                                   unsigned random_rounds = 200) {
  const Run whole = feed_in_chunks(make_session, input, {});
  auto expect_same = [&](const std::vector<std::size_t>& cuts, const std::string& how) {
    const Run split = feed_in_chunks(make_session, input, cuts);
    ASSERT_EQ(split.output, whole.output) << how;
    ASSERT_EQ(split.verdict.close, whole.verdict.close) << how;
    ASSERT_EQ(split.verdict.reason, whole.verdict.reason) << how;
  };
  // Stops at the first split that differs: one counterexample says more
  // than hundreds of them.
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    expect_same({cut}, "split once at " + std::to_string(cut));
    if (::testing::Test::HasFatalFailure()) return;
  }
  expect_same(every_byte(input.size()), "one byte at a time");
  if (::testing::Test::HasFatalFailure()) return;
  std::mt19937 random(12345);
  for (unsigned round = 0; round < random_rounds; ++round) {
    expect_same(random_cuts(input.size(), random), "random split, round " + std::to_string(round));
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace exercises::testing
