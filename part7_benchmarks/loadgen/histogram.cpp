// The log-linear bucket layout (see histogram.hpp). With S = sub_bucket_bits
// and H = 2^(S-1), a value v with bit width w:
//   w <= S : bucket v (exact: buckets 0 .. 2^S - 1)
//   w >  S : shift = w - S, sub = v >> shift (in [H, 2H)), bucket shift*H + sub
// so consecutive powers of two take H buckets each, and the bucket width is
// 2^shift <= v / H.
#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace loadgen {

namespace {

constexpr unsigned S = LatencyHistogram::sub_bucket_bits;
constexpr std::uint64_t half = std::uint64_t{1} << (S - 1);

}  // namespace

std::size_t LatencyHistogram::bucket_index(std::uint64_t value) {
  const unsigned width = static_cast<unsigned>(std::bit_width(value));
  if (width <= S) return static_cast<std::size_t>(value);
  const unsigned shift = width - S;
  return static_cast<std::size_t>(shift * half + (value >> shift));
}

std::uint64_t LatencyHistogram::bucket_lowest(std::size_t index) {
  if (index < 2 * half) return index;
  // index = shift*H + sub with sub in [H, 2H): shift = index/H - 1.
  const std::uint64_t shift = index / half - 1;
  const std::uint64_t sub = index - shift * half;
  return sub << shift;
}

std::uint64_t LatencyHistogram::bucket_highest(std::size_t index) {
  if (index < 2 * half) return index;
  const std::uint64_t shift = index / half - 1;
  return bucket_lowest(index) + ((std::uint64_t{1} << shift) - 1);
}

std::size_t LatencyHistogram::bucket_count() { return bucket_index(UINT64_MAX) + 1; }

LatencyHistogram::LatencyHistogram() : counts_(bucket_count(), 0) {}

void LatencyHistogram::record(std::uint64_t value) {
  ++counts_[bucket_index(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  percent = std::clamp(percent, 0.0, 100.0);
  // The rank of the value asked for, counting from 1 ("nearest rank").
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_highest(i), min_, max_);
  }
  return max_;
}

}  // namespace loadgen
