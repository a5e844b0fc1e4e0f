#include <gtest/gtest.h>

#include "ws/TokenBucket.h"

namespace heimdallr::ws {

namespace {
int takeAll(TokenBucket& bucket, uint64_t nowMs) {
  int taken = 0;
  while (bucket.tryTake(nowMs)) ++taken;
  return taken;
}
}  // namespace

TEST(TokenBucket, starts_full_and_allows_exactly_the_burst_at_once) {
  TokenBucket bucket(10, 5, 1000);
  EXPECT_EQ(5, takeAll(bucket, 1000));
}

TEST(TokenBucket, refills_at_the_rate_including_fractions_of_a_token) {
  TokenBucket bucket(10, 5, 0);  // one token per 100 ms
  takeAll(bucket, 0);
  EXPECT_FALSE(bucket.tryTake(99));
  EXPECT_TRUE(bucket.tryTake(100));
  EXPECT_FALSE(bucket.tryTake(100));
  // 150 ms give 1.5 tokens: one now, and the half is kept for the next 50 ms.
  EXPECT_EQ(1, takeAll(bucket, 250));
  EXPECT_EQ(1, takeAll(bucket, 300));
}

TEST(TokenBucket, never_saves_more_than_the_burst) {
  TokenBucket bucket(1000, 3, 0);
  takeAll(bucket, 0);
  EXPECT_EQ(3, takeAll(bucket, 3'600'000));  // an hour of quiet still gives only the burst
}

TEST(TokenBucket, sustained_rate_over_a_long_run_matches_the_configuration) {
  TokenBucket bucket(200, 400, 0);
  int taken = 0;
  for (uint64_t ms = 0; ms <= 10'000; ++ms) taken += takeAll(bucket, ms);
  EXPECT_EQ(400 + 200 * 10, taken);  // the burst, then 200/s for 10 s
}

TEST(TokenBucket, a_clock_that_does_not_move_forward_refills_nothing) {
  TokenBucket bucket(10, 1, 500);
  EXPECT_TRUE(bucket.tryTake(500));
  EXPECT_FALSE(bucket.tryTake(400));  // an earlier time (another loop's clock) is ignored
  EXPECT_FALSE(bucket.tryTake(500));
}

TEST(TokenBucket, rate_zero_means_no_limit) {
  TokenBucket bucket(0, 1, 0);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(bucket.tryTake(0));
}

TEST(TokenBucket, a_huge_gap_with_a_huge_rate_does_not_overflow) {
  TokenBucket bucket(1'000'000, 1'000'000, 0);
  takeAll(bucket, 0);
  EXPECT_EQ(1'000'000, takeAll(bucket, UINT64_MAX / 2));
}

TEST(TokenBucket, ms_until_counts_the_refill_time_rounded_up) {
  TokenBucket bucket(10, 5, 0);  // one token per 100 ms
  EXPECT_EQ(0u, bucket.msUntil(5, 0)) << "a full bucket already holds the burst";
  takeAll(bucket, 0);
  EXPECT_EQ(100u, bucket.msUntil(1, 0));
  EXPECT_EQ(60u, bucket.msUntil(1, 40));
  EXPECT_EQ(300u, bucket.msUntil(3, 0));
  EXPECT_EQ(500u, bucket.msUntil(50, 0)) << "more than the burst waits only for the burst";
  EXPECT_EQ(0u, bucket.msUntil(1, 100));
  EXPECT_TRUE(bucket.tryTake(100)) << "msUntil() promised a token at 100 ms";

  TokenBucket thirds(3, 1, 0);  // a token every 333.3 ms: the wait rounds up, never down
  takeAll(thirds, 0);
  EXPECT_EQ(334u, thirds.msUntil(1, 0));
  EXPECT_FALSE(thirds.tryTake(333));
  EXPECT_TRUE(thirds.tryTake(334));
  EXPECT_EQ(0u, TokenBucket(0, 1, 0).msUntil(10, 0)) << "rate 0: never wait";
}

}  // namespace heimdallr::ws
