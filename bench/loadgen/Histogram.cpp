#include "Histogram.h"

#include <algorithm>
#include <cmath>

namespace heimdallr::bench {
namespace {
constexpr uint64_t kLinearLimit = 128;  // values below this have a bucket each
constexpr unsigned kSubBucketBits = 6;  // 64 sub-buckets per power of two above it
}  // namespace

Histogram::Histogram() : counts_(kBucketCount, 0) {}

size_t Histogram::indexOf(uint64_t value) {
  if (value < kLinearLimit) return static_cast<size_t>(value);
  const unsigned exponent = 63u - static_cast<unsigned>(__builtin_clzll(value));  // 7..63
  const unsigned shift = exponent - kSubBucketBits;
  const uint64_t sub = value >> shift;  // 64..127
  return kLinearLimit + (exponent - 7) * 64 + static_cast<size_t>(sub - 64);
}

uint64_t Histogram::highestEquivalent(size_t index) {
  if (index < kLinearLimit) return index;
  const size_t k = index - kLinearLimit;
  const unsigned exponent = static_cast<unsigned>(k / 64) + 7;
  const uint64_t sub = k % 64 + 64;
  const unsigned shift = exponent - kSubBucketBits;
  const uint64_t lowest = sub << shift;
  return lowest + ((uint64_t{1} << shift) - 1);
}

void Histogram::record(uint64_t value) {
  ++counts_[indexOf(value)];
  ++count_;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<double>(value);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0.0;
}

uint64_t Histogram::valueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  const double clamped = std::clamp(percentile, 0.0, 100.0);
  uint64_t target = static_cast<uint64_t>(std::ceil(clamped / 100.0 * static_cast<double>(count_)));
  target = std::clamp<uint64_t>(target, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= target) return std::min(highestEquivalent(i), max_);
  }
  return max_;
}

}  // namespace heimdallr::bench
