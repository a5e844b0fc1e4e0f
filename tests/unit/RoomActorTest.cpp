#include <gtest/gtest.h>

#include <vector>

#include "room/RoomActor.h"

namespace heimdallr::room {

namespace {
const config::RoomPolicy kPolicy;
}  // namespace

using Interest = RoomActor::Interest;

TEST(RoomActor, first_member_gains_interest_and_last_member_loses_it) {
  RoomActor actor("42", 2, kPolicy);
  EXPECT_EQ(Interest::kGained, actor.memberJoined(0));
  EXPECT_EQ(Interest::kUnchanged, actor.memberJoined(1));
  EXPECT_EQ(Interest::kUnchanged, actor.memberJoined(1));
  EXPECT_EQ(3u, actor.members());
  EXPECT_EQ(Interest::kUnchanged, actor.memberLeft(1));
  EXPECT_EQ(Interest::kUnchanged, actor.memberLeft(0));
  EXPECT_EQ(Interest::kLost, actor.memberLeft(1));
  EXPECT_EQ(0u, actor.members());
}

TEST(RoomActor, interest_is_gained_again_after_being_lost) {
  RoomActor actor("42", 1, kPolicy);
  EXPECT_EQ(Interest::kGained, actor.memberJoined(0));
  EXPECT_EQ(Interest::kLost, actor.memberLeft(0));
  EXPECT_EQ(Interest::kGained, actor.memberJoined(0));
}

TEST(RoomActor, counts_members_per_loop) {
  RoomActor actor("r", 3, kPolicy);
  actor.memberJoined(0);
  actor.memberJoined(2);
  actor.memberJoined(2);
  EXPECT_EQ(1u, actor.membersOnLoop(0));
  EXPECT_EQ(0u, actor.membersOnLoop(1));
  EXPECT_EQ(2u, actor.membersOnLoop(2));
}

TEST(RoomActor, fans_out_once_per_loop_with_members_not_per_member) {
  RoomActor actor("r", 4, kPolicy);
  actor.memberJoined(1);
  actor.memberJoined(1);
  actor.memberJoined(1);
  actor.memberJoined(3);
  std::vector<int> loops;
  actor.forEachLoopWithMembers([&](int loop) { loops.push_back(loop); });
  EXPECT_EQ((std::vector<int>{1, 3}), loops);
  actor.memberLeft(3);
  loops.clear();
  actor.forEachLoopWithMembers([&](int loop) { loops.push_back(loop); });
  EXPECT_EQ((std::vector<int>{1}), loops);
}

TEST(RoomActor, a_leave_without_a_join_never_underflows) {
  RoomActor actor("r", 2, kPolicy);
  actor.memberJoined(0);
  EXPECT_EQ(Interest::kUnchanged, actor.memberLeft(1));
  EXPECT_EQ(1u, actor.members());
  EXPECT_EQ(Interest::kLost, actor.memberLeft(0));
  EXPECT_EQ(Interest::kUnchanged, actor.memberLeft(0));
  EXPECT_EQ(0u, actor.members());
}

TEST(RoomActor, counts_v2_members_so_that_only_used_formats_are_encoded) {
  RoomActor actor("r", 2, kPolicy);
  actor.memberJoined(0, MemberFormat::kV2);
  actor.memberJoined(1, MemberFormat::kRaw);
  actor.memberJoined(1, MemberFormat::kV2);
  EXPECT_EQ(2u, actor.v2Members());
  EXPECT_EQ(1u, actor.rawMembers());
  actor.memberLeft(0, MemberFormat::kV2);
  EXPECT_EQ(1u, actor.v2Members());
  EXPECT_EQ(1u, actor.rawMembers());
  EXPECT_EQ(nullptr, actor.stream());  // no history: no stream view
  config::RoomPolicy history;
  history.historySize = 10;
  RoomActor stored("s", 1, history);
  ASSERT_NE(nullptr, stored.stream());
  EXPECT_FALSE(stored.stream()->synced);
}

}  // namespace heimdallr::room
