#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace heimdallr::bench {

/// Log-bucketed histogram of non-negative integers (nanoseconds here), in the manner of
/// HdrHistogram: values below 128 are exact, above that every power of two is split into 64 linear
/// sub-buckets, so a reported percentile is at most 1/64 (1.6 %) above the true value. Covers the
/// whole uint64_t range in 3776 counters (30 KiB). min, max and mean are exact.
/// Not thread-safe: one per recording thread, merge() afterwards.
class Histogram {
 public:
  Histogram();

  void record(uint64_t value);
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

  /// The smallest bucket bound such that at least `percentile` % of the values are at or below it
  /// (the bucket's highest equivalent value, capped at max()). 0 when empty.
  uint64_t valueAtPercentile(double percentile) const;

  /// Bucket index of a value, and the highest value that lands in a bucket (exposed for tests).
  static size_t indexOf(uint64_t value);
  static uint64_t highestEquivalent(size_t index);
  static constexpr size_t kBucketCount = 128 + 57 * 64;

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0.0;
};

}  // namespace heimdallr::bench
