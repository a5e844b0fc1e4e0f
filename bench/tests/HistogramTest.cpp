#include <gtest/gtest.h>

#include "Histogram.h"

using heimdallr::bench::Histogram;

TEST(Histogram, keeps_small_values_exact) {
  Histogram h;
  for (uint64_t v = 0; v < 128; ++v) h.record(v);
  EXPECT_EQ(h.count(), 128u);
  EXPECT_EQ(h.valueAtPercentile(50), 63u);
  EXPECT_EQ(h.valueAtPercentile(100), 127u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, bounds_relative_error_of_large_values) {
  for (uint64_t v :
       std::initializer_list<uint64_t>{129, 1000, 123456789, 999999999999, UINT64_MAX / 3}) {
    const uint64_t high = Histogram::highestEquivalent(Histogram::indexOf(v));
    EXPECT_GE(high, v);
    EXPECT_LE(static_cast<double>(high - v), static_cast<double>(v) / 64.0) << v;
  }
}

TEST(Histogram, maps_every_value_into_range) {
  EXPECT_LT(Histogram::indexOf(UINT64_MAX), Histogram::kBucketCount);
  EXPECT_EQ(Histogram::highestEquivalent(Histogram::kBucketCount - 1), UINT64_MAX);
}

TEST(Histogram, reports_percentiles_capped_at_max_and_exact_mean) {
  Histogram h;
  for (int i = 0; i < 99; ++i) h.record(1'000'000);
  h.record(50'000'000);
  EXPECT_NEAR(static_cast<double>(h.valueAtPercentile(50)), 1e6, 1e6 / 64);
  EXPECT_NEAR(static_cast<double>(h.valueAtPercentile(99)), 1e6, 1e6 / 64);
  EXPECT_EQ(h.valueAtPercentile(99.9), 50'000'000u);
  EXPECT_DOUBLE_EQ(h.mean(), (99 * 1e6 + 5e7) / 100);
}

TEST(Histogram, merges_counts_and_extremes) {
  Histogram a, b;
  a.record(10);
  b.record(1'000'000);
  a.merge(b);
  EXPECT_EQ(a.count(), 2u);
  EXPECT_EQ(a.min(), 10u);
  EXPECT_EQ(a.max(), 1'000'000u);
}
