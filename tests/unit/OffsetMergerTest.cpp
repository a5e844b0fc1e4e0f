#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "history/OffsetMerger.h"

using Merger = heimdallr::history::OffsetMerger<std::string>;
using Verdict = Merger::Verdict;
using Released = std::vector<std::pair<uint64_t, std::string>>;

TEST(OffsetMerger, holds_live_messages_while_history_is_read_then_releases_what_follows) {
  Merger merger(17);  // the client had seen 17; history 18..20 is being read
  EXPECT_EQ(merger.admit(21, "m21"), Verdict::kHeld);
  EXPECT_EQ(merger.admit(20, "m20"), Verdict::kHeld);  // also in history: a duplicate later
  EXPECT_EQ(merger.admit(22, "m22"), Verdict::kHeld);
  EXPECT_EQ(merger.admit(21, "again"), Verdict::kHeld);
  bool gap = true;
  EXPECT_EQ(merger.release(20, gap), (Released{{21, "m21"}, {22, "m22"}}));
  EXPECT_FALSE(gap);
  EXPECT_EQ(merger.last(), 22u);
  EXPECT_FALSE(merger.holding());
}

TEST(OffsetMerger, live_messages_are_delivered_once_in_order) {
  Merger merger(5, false);
  EXPECT_EQ(merger.admit(6, "a"), Verdict::kDeliver);
  EXPECT_EQ(merger.admit(6, "a"), Verdict::kDuplicate);
  EXPECT_EQ(merger.admit(3, "old"), Verdict::kDuplicate);
  EXPECT_EQ(merger.admit(7, "b"), Verdict::kDeliver);
  EXPECT_EQ(merger.last(), 7u);
}

TEST(OffsetMerger, a_skipped_offset_is_a_gap_and_last_stays) {
  Merger merger(5, false);
  EXPECT_EQ(merger.admit(7, "b"), Verdict::kGap);
  EXPECT_EQ(merger.last(), 5u);
  merger.hold();  // the member reads history again from 5
  EXPECT_EQ(merger.admit(8, "c"), Verdict::kHeld);
  bool gap = true;
  EXPECT_EQ(merger.release(7, gap), (Released{{8, "c"}}));
  EXPECT_FALSE(gap);
}

TEST(OffsetMerger, a_gap_among_held_messages_stops_the_release) {
  Merger merger(0);
  merger.admit(4, "m4");
  merger.admit(6, "m6");
  bool gap = false;
  EXPECT_EQ(merger.release(3, gap), (Released{{4, "m4"}}));
  EXPECT_TRUE(gap);
  EXPECT_EQ(merger.last(), 4u);
  EXPECT_FALSE(merger.holding());
}

TEST(OffsetMerger, history_that_reached_past_the_held_messages_drops_them) {
  Merger merger(10);
  merger.admit(11, "m11");
  merger.admit(12, "m12");
  bool gap = true;
  EXPECT_TRUE(merger.release(15, gap).empty());
  EXPECT_FALSE(gap);
  EXPECT_EQ(merger.last(), 15u);
  EXPECT_EQ(merger.admit(16, "m16"), Verdict::kDeliver);
}
