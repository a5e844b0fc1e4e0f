#include <gtest/gtest.h>

#include <vector>

#include "room/RoomActor.h"

namespace heimdallr::room {

using Interest = RoomActor::Interest;

TEST(RoomActor, first_member_gains_interest_and_last_member_loses_it) {
  RoomActor actor("42", 2);
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
  RoomActor actor("42", 1);
  EXPECT_EQ(Interest::kGained, actor.memberJoined(0));
  EXPECT_EQ(Interest::kLost, actor.memberLeft(0));
  EXPECT_EQ(Interest::kGained, actor.memberJoined(0));
}

TEST(RoomActor, counts_members_per_loop) {
  RoomActor actor("r", 3);
  actor.memberJoined(0);
  actor.memberJoined(2);
  actor.memberJoined(2);
  EXPECT_EQ(1u, actor.membersOnLoop(0));
  EXPECT_EQ(0u, actor.membersOnLoop(1));
  EXPECT_EQ(2u, actor.membersOnLoop(2));
}

TEST(RoomActor, fans_out_once_per_loop_with_members_not_per_member) {
  RoomActor actor("r", 4);
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
  RoomActor actor("r", 2);
  actor.memberJoined(0);
  EXPECT_EQ(Interest::kUnchanged, actor.memberLeft(1));
  EXPECT_EQ(1u, actor.members());
  EXPECT_EQ(Interest::kLost, actor.memberLeft(0));
  EXPECT_EQ(Interest::kUnchanged, actor.memberLeft(0));
  EXPECT_EQ(0u, actor.members());
}

}  // namespace heimdallr::room
