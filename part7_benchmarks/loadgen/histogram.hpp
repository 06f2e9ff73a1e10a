// LatencyHistogram - a log-linear histogram of latencies, in nanoseconds.
//
// Values below 2^sub_bucket_bits are counted exactly; above that, each power
// of two is split into 2^(sub_bucket_bits-1) equal buckets, so a bucket is at
// most 1/64 of the values it holds wide. A percentile is reported as the
// largest value of its bucket (clamped to the largest value recorded), which
// is never below the true percentile and at most 1/64 (1.6 %) above it. This
// is the layout of HdrHistogram with a fixed precision: recording is an index
// computation and an increment, memory is fixed (about 30 KB), and two
// histograms merge by adding their counts, so each load-generator thread
// keeps its own and they are merged once at the end.
//
// Not thread-safe: one histogram per thread, merged after the threads end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loadgen {

class LatencyHistogram {
 public:
  // 2^7 exact values, then 64 buckets per power of two.
  static constexpr unsigned sub_bucket_bits = 7;

  LatencyHistogram();

  // Counts one value.
  void record(std::uint64_t value);

  // Adds every count of `other` to this one (as if each value recorded
  // there had been recorded here).
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }  // exact
  std::uint64_t max() const { return max_; }                     // exact
  double mean() const;                                           // exact

  // The value at or below which `percent` % of the values lie (0..100),
  // rounded up to its bucket's largest value; 0 for an empty histogram.
  // percentile(0) is min(), percentile(100) is max().
  std::uint64_t percentile(double percent) const;

  // The bucket holding `value`, and the smallest and largest value of a
  // bucket (exposed for the tests of the layout).
  static std::size_t bucket_index(std::uint64_t value);
  static std::uint64_t bucket_lowest(std::size_t index);
  static std::uint64_t bucket_highest(std::size_t index);
  static std::size_t bucket_count();

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace loadgen
