// Helpers that feed a Session every split of an input, the property the
// whole repository relies on: TCP delivers a byte stream, and a server must
// answer the same however that stream is cut into recv() chunks.
//
// The one copy: common's own tests pass a cs::Protocol, part 4's tests and
// the exercises' checks pass a factory for sessions that cs::make_session()
// does not know (the line protocol, an exercise's class).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cs/session.hpp"

namespace cs::testing {

struct Run {
  Bytes output;
  Verdict verdict;  // the first closing verdict, or keep_open
  bool pending = false;  // request_pending() after the last chunk
};

using SessionFactory = std::function<std::unique_ptr<Session>()>;

// Feeds `input` to a fresh session in the chunks given by `cuts` (sorted
// positions where a new chunk starts), stopping at the first close verdict,
// as a server would. The greeting is part of the output.
inline Run feed_in_chunks(const SessionFactory& make, ByteView input,
                          const std::vector<std::size_t>& cuts) {
  const auto session = make();
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
  run.pending = session->request_pending();
  return run;
}

inline SessionFactory sessions_of(Protocol protocol, const SessionLimits& limits) {
  return [protocol, limits] { return make_session(protocol, limits); };
}

inline Run feed_in_chunks(Protocol protocol, const SessionLimits& limits, ByteView input,
                          const std::vector<std::size_t>& cuts) {
  return feed_in_chunks(sessions_of(protocol, limits), input, cuts);
}

// Random cut positions (sorted, possibly repeated, which means an empty
// chunk is skipped): reproducible for a given seed.
inline std::vector<std::size_t> random_cuts(std::size_t size, std::mt19937& random) {
  if (size < 2) return {};
  std::uniform_int_distribution<std::size_t> count(1, size - 1);
  std::uniform_int_distribution<std::size_t> position(1, size - 1);
  std::vector<std::size_t> cuts(count(random));
  for (auto& cut : cuts) cut = position(random);
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

// Every position from 1 to size - 1: the input one byte at a time.
inline std::vector<std::size_t> every_byte(std::size_t size) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < size; ++i) cuts.push_back(i);
  return cuts;
}

// Asserts that every way of splitting `input` (each single split point, one
// byte at a time, and `random_rounds` random multi-way splits from a fixed
// seed, so a failure reproduces) gives the unsplit run's output and verdict,
// and, while the connection stays open, the same request_pending(). Stops
// at the first split that differs: one counterexample says more than
// hundreds of them.
inline void expect_split_invariant(const SessionFactory& make, ByteView input,
                                   unsigned random_rounds = 200) {
  const Run whole = feed_in_chunks(make, input, {});
  auto expect_same = [&](const std::vector<std::size_t>& cuts, const std::string& how) {
    const Run split = feed_in_chunks(make, input, cuts);
    ASSERT_EQ(split.output, whole.output) << how;
    ASSERT_EQ(split.verdict.close, whole.verdict.close) << how;
    ASSERT_EQ(split.verdict.reason, whole.verdict.reason) << how;
    if (!whole.verdict.close) {
      ASSERT_EQ(split.pending, whole.pending) << how;
    }
  };
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

inline void expect_split_invariant(Protocol protocol, const SessionLimits& limits, ByteView input,
                                   unsigned random_rounds = 200) {
  expect_split_invariant(sessions_of(protocol, limits), input, random_rounds);
}

inline std::string as_text(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

}  // namespace cs::testing
