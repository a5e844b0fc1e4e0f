#include <gtest/gtest.h>

#include "SequenceTracker.h"

using heimdallr::bench::SequenceTracker;
using V = SequenceTracker::Verdict;

TEST(SequenceTracker, accepts_a_gapless_sequence_in_order) {
  SequenceTracker t;
  for (uint64_t s = 0; s < 200; ++s) EXPECT_EQ(t.observe(s), V::kInOrder);
}

TEST(SequenceTracker, flags_a_repeat_as_duplicate) {
  SequenceTracker t;
  t.observe(0);
  t.observe(1);
  EXPECT_EQ(t.observe(1), V::kDuplicate);
  EXPECT_EQ(t.observe(0), V::kDuplicate);
}

TEST(SequenceTracker, flags_a_late_fill_of_a_gap_as_out_of_order_once) {
  SequenceTracker t;
  t.observe(0);
  t.observe(2);
  EXPECT_EQ(t.observe(1), V::kOutOfOrder);
  EXPECT_EQ(t.observe(1), V::kDuplicate);
}

TEST(SequenceTracker, never_calls_anything_older_than_its_window_a_duplicate) {
  SequenceTracker t;
  t.observe(0);
  t.observe(100);
  EXPECT_EQ(t.observe(0), V::kOutOfOrder);
}
