// The histogram's promises: exact below 128, at most 1/64 above the true
// percentile elsewhere and never below it, exact min/max/mean, and merging
// equal to recording everything in one histogram.
#include "histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace {

using loadgen::LatencyHistogram;

// The nearest-rank percentile of a sorted sample: the reference.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double percent) {
  const auto rank = std::max<std::size_t>(
      1, static_cast<std::size_t>(std::ceil(percent / 100.0 * static_cast<double>(sorted.size()))));
  return sorted[rank - 1];
}

TEST(Histogram, EmptyReportsZeroEverywhere) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(Histogram, BucketsTileEveryValueWithoutGapsOrOverlaps) {
  // Each bucket starts one past the end of the previous one, up to 2^64-1.
  for (std::size_t i = 1; i < LatencyHistogram::bucket_count(); ++i) {
    ASSERT_EQ(LatencyHistogram::bucket_lowest(i), LatencyHistogram::bucket_highest(i - 1) + 1)
        << "bucket " << i;
  }
  EXPECT_EQ(LatencyHistogram::bucket_highest(LatencyHistogram::bucket_count() - 1), UINT64_MAX);
}

TEST(Histogram, EveryValueLandsInTheBucketThatHoldsIt) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t value = random() >> (random() % 64);
    const std::size_t bucket = LatencyHistogram::bucket_index(value);
    ASSERT_LE(LatencyHistogram::bucket_lowest(bucket), value);
    ASSERT_GE(LatencyHistogram::bucket_highest(bucket), value);
  }
}

TEST(Histogram, BucketWidthIsAtMostOneSixtyFourthOfItsValues) {
  for (std::size_t i = 0; i < LatencyHistogram::bucket_count(); ++i) {
    const std::uint64_t low = LatencyHistogram::bucket_lowest(i);
    const std::uint64_t width = LatencyHistogram::bucket_highest(i) - low + 1;
    if (low < 128) {
      ASSERT_EQ(width, 1u) << "values below 128 are exact";
    } else {
      ASSERT_LE(width * 64, low) << "bucket " << i;
    }
  }
}

TEST(Histogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.percentile(0), 1u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(Histogram, PercentilesAreNeverBelowTheTruthAndAtMostOneSixtyFourthAbove) {
  // Latency-like data: log-normal around 50 us, with a tail to tens of ms.
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(std::log(50'000.0), 1.2);
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency(random));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (const double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const std::uint64_t truth = exact_percentile(values, p);
    const std::uint64_t reported = h.percentile(p);
    EXPECT_GE(reported, truth) << "p" << p;
    EXPECT_LE(static_cast<double>(reported), static_cast<double>(truth) * (1.0 + 1.0 / 64)) << "p" << p;
  }
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.percentile(100), values.back());
}

TEST(Histogram, MergingEqualsRecordingEverythingInOne) {
  // What the load generator does: one histogram per thread, merged at the end.
  std::mt19937_64 random(3);
  LatencyHistogram all;
  std::vector<LatencyHistogram> per_thread(4);
  for (int i = 0; i < 50000; ++i) {
    const std::uint64_t v = random() % 10'000'000;
    all.record(v);
    per_thread[static_cast<std::size_t>(i) % per_thread.size()].record(v);
  }
  LatencyHistogram merged;
  for (const auto& h : per_thread) merged.merge(h);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (const double p : {0.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(merged.percentile(p), all.percentile(p)) << "p" << p;
  }
}

TEST(Histogram, MergingAnEmptyHistogramChangesNothing) {
  LatencyHistogram h;
  h.record(1000);
  h.record(3000);
  h.merge(LatencyHistogram{});
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_EQ(h.max(), 3000u);
}

TEST(Histogram, HugeValuesDoNotOverflow) {
  LatencyHistogram h;
  h.record(UINT64_MAX);
  h.record(0);
  EXPECT_EQ(h.percentile(100), UINT64_MAX);
  EXPECT_EQ(h.percentile(50), 0u);
}

}  // namespace
