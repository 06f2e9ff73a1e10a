// Helpers that feed a Session every split of an input, the property the
// whole repository relies on: TCP delivers a byte stream, and a server must
// answer the same however that stream is cut into recv() chunks.
#pragma once

#include <random>
#include <vector>

#include "cs/session.hpp"

namespace cs::testing {

struct Run {
  Bytes output;
  Verdict verdict;  // the first closing verdict, or keep_open
  bool pending = false;  // request_pending() after the last chunk
};

// Feeds `input` to a fresh session in the chunks given by `cuts` (sorted
// positions where a new chunk starts), stopping at the first close verdict,
// as a server would. The greeting is part of the output.
inline Run feed_in_chunks(Protocol protocol, const SessionLimits& limits, ByteView input,
                          const std::vector<std::size_t>& cuts) {
  auto session = make_session(protocol, limits);
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

}  // namespace cs::testing
