#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "history/OffsetMerger.h"

using Merger = heimdallr::history::OffsetMerger<std::string>;
using Verdict = Merger::Verdict;
using Stored = std::vector<std::pair<uint64_t, std::string>>;
using Out = std::vector<std::string>;

namespace {
Out catchUp(Merger& merger, Stored stored, uint64_t top, uint64_t& lost, bool& readAgain) {
  return merger.catchUp(std::move(stored), top, lost, readAgain);
}
}  // namespace

TEST(OffsetMerger, holds_live_messages_while_history_is_read_then_delivers_each_once_in_order) {
  Merger merger(17);  // the client had seen 17; history 18..20 is being read
  EXPECT_EQ(merger.admit(21, "m21"), Verdict::kHeld);
  EXPECT_EQ(merger.admit(20, "m20"), Verdict::kHeld);  // also in history: a duplicate later
  EXPECT_EQ(merger.admit(22, "m22"), Verdict::kHeld);
  EXPECT_EQ(merger.admit(21, "again"), Verdict::kHeld);
  uint64_t lost = 9;
  bool readAgain = true;
  EXPECT_EQ(catchUp(merger, {{18, "h18"}, {19, "h19"}, {20, "h20"}}, 20, lost, readAgain),
            (Out{"h18", "h19", "h20", "m21", "m22"}));
  EXPECT_EQ(lost, 0u);
  EXPECT_FALSE(readAgain);
  EXPECT_EQ(merger.last(), 22u);
  EXPECT_FALSE(merger.holding());
  EXPECT_EQ(merger.admit(23, "m23"), Verdict::kDeliver);
}

TEST(OffsetMerger, live_messages_are_delivered_once_in_order) {
  Merger merger(5, false);
  EXPECT_EQ(merger.admit(6, "a"), Verdict::kDeliver);
  EXPECT_EQ(merger.admit(6, "a"), Verdict::kDuplicate);
  EXPECT_EQ(merger.admit(3, "old"), Verdict::kDuplicate);
  EXPECT_EQ(merger.admit(7, "b"), Verdict::kDeliver);
  EXPECT_EQ(merger.last(), 7u);
}

TEST(OffsetMerger, a_skipped_offset_is_a_gap_filled_from_the_store) {
  Merger merger(5, false);
  EXPECT_EQ(merger.admit(7, "m7"), Verdict::kGap);
  EXPECT_EQ(merger.last(), 5u);
  EXPECT_TRUE(merger.holding());
  EXPECT_EQ(merger.admit(8, "m8"), Verdict::kHeld);
  uint64_t lost = 0;
  bool readAgain = true;
  // The read after 5 may already include 7 and 8: nothing twice.
  EXPECT_EQ(catchUp(merger, {{6, "h6"}, {7, "h7"}}, 7, lost, readAgain), (Out{"h6", "h7", "m8"}));
  EXPECT_FALSE(readAgain);
  EXPECT_EQ(lost, 0u);
}

TEST(OffsetMerger, held_messages_that_still_do_not_follow_ask_for_another_read) {
  Merger merger(0);
  merger.admit(4, "m4");
  merger.admit(6, "m6");
  uint64_t lost = 0;
  bool readAgain = false;
  EXPECT_EQ(catchUp(merger, {{1, "h1"}, {2, "h2"}, {3, "h3"}}, 3, lost, readAgain),
            (Out{"h1", "h2", "h3", "m4"}));
  EXPECT_TRUE(readAgain);
  EXPECT_TRUE(merger.holding());
  EXPECT_EQ(merger.last(), 4u);
  // The store's copy of 6 comes first; the held copy is the same message and is dropped.
  EXPECT_EQ(catchUp(merger, {{5, "h5"}, {6, "h6"}}, 6, lost, readAgain), (Out{"h5", "h6"}));
  EXPECT_EQ(merger.heldCount(), 0u);
  EXPECT_FALSE(readAgain);
}

TEST(OffsetMerger, history_that_reached_past_the_held_messages_drops_them) {
  Merger merger(10);
  merger.admit(11, "m11");
  merger.admit(12, "m12");
  uint64_t lost = 0;
  bool readAgain = true;
  EXPECT_EQ(catchUp(merger, {{11, "h11"}, {12, "h12"}, {13, "h13"}}, 13, lost, readAgain),
            (Out{"h11", "h12", "h13"}));
  EXPECT_FALSE(readAgain);
  EXPECT_EQ(merger.last(), 13u);
  EXPECT_EQ(merger.admit(14, "m14"), Verdict::kDeliver);
}

TEST(OffsetMerger, what_the_store_no_longer_keeps_is_skipped_and_counted) {
  Merger merger(3, false);
  EXPECT_EQ(merger.admit(9, "m9"), Verdict::kGap);
  uint64_t lost = 0;
  bool readAgain = true;
  // 4 and 5 were trimmed: the store returns 6..8.
  EXPECT_EQ(catchUp(merger, {{6, "h6"}, {7, "h7"}, {8, "h8"}}, 8, lost, readAgain),
            (Out{"h6", "h7", "h8", "m9"}));
  EXPECT_EQ(lost, 2u);
  // A stream whose messages all expired: skip to its top.
  Merger expired(3, true);
  EXPECT_TRUE(catchUp(expired, {}, 9, lost, readAgain).empty());
  EXPECT_EQ(lost, 6u);
  EXPECT_EQ(expired.last(), 9u);
  // Expired, with a live message held inside the range: skipped up to it, then it follows.
  Merger held(3, true);
  held.admit(7, "m7");
  EXPECT_EQ(catchUp(held, {}, 9, lost, readAgain), (Out{"m7"}));
  EXPECT_EQ(lost, 3u);
  EXPECT_FALSE(readAgain);
  EXPECT_EQ(held.last(), 7u);
}

TEST(OffsetMerger, skip_to_moves_forward_only) {
  Merger merger(5, false);
  merger.skipTo(3);
  EXPECT_EQ(merger.last(), 5u);
  merger.skipTo(8);
  EXPECT_EQ(merger.admit(9, "m9"), Verdict::kDeliver);
}
