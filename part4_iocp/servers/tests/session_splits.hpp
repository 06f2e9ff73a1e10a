// common/tests/split_testing.hpp, generalised to any session type: part 4's
// sessions are not among cs::make_session()'s protocols, so the tests pass a
// factory instead of a cs::Protocol. The cut helpers (every_byte,
// random_cuts) are common's own.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>  // split_testing.hpp sorts with std::sort
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cs/session.hpp"
#include "split_testing.hpp"

namespace part4::testing {

using SessionFactory = std::function<std::unique_ptr<cs::Session>()>;

// Feeds `input` to a fresh session in the chunks given by `cuts`, stopping at
// the first close verdict as a server would. The greeting is part of the
// output.
inline cs::testing::Run feed_in_chunks(const SessionFactory& make, cs::ByteView input,
                                       const std::vector<std::size_t>& cuts) {
  auto session = make();
  cs::testing::Run run;
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

// Asserts that every single split point, one byte at a time, and
// `random_rounds` random multi-way splits all give the unsplit run's output
// and verdict.
inline void expect_split_invariant(const SessionFactory& make, cs::ByteView input,
                                   unsigned random_rounds = 200) {
  const cs::testing::Run whole = feed_in_chunks(make, input, {});
  auto expect_same = [&](const std::vector<std::size_t>& cuts, const std::string& how) {
    const cs::testing::Run split = feed_in_chunks(make, input, cuts);
    ASSERT_EQ(split.output, whole.output) << how;
    ASSERT_EQ(split.verdict.close, whole.verdict.close) << how;
    ASSERT_EQ(split.verdict.reason, whole.verdict.reason) << how;
  };
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    expect_same({cut}, "split once at " + std::to_string(cut));
  }
  expect_same(cs::testing::every_byte(input.size()), "one byte at a time");
  std::mt19937 random(12345);  // fixed seed: a failure reproduces
  for (unsigned round = 0; round < random_rounds; ++round) {
    expect_same(cs::testing::random_cuts(input.size(), random),
                "random split, round " + std::to_string(round));
  }
}

inline std::string as_text(const cs::Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

}  // namespace part4::testing
