#include <gtest/gtest.h>

#include "history/RecoveryPlan.h"

using heimdallr::history::planRecovery;
using heimdallr::history::RecoveryPlan;
using heimdallr::history::StreamPosition;
using heimdallr::history::StreamState;

namespace {

// Offsets 11..20 kept, of epoch "e1".
const StreamState kState{"e1", 20, 11};

}  // namespace

TEST(RecoveryPlan, recovers_everything_after_a_position_inside_history) {
  const RecoveryPlan plan = planRecovery(kState, StreamPosition{17, "e1"}, 0);
  EXPECT_TRUE(plan.recovered);
  EXPECT_EQ(plan.first, 18u);
  EXPECT_EQ(plan.last, 20u);
  EXPECT_EQ(plan.count(), 3u);
}

TEST(RecoveryPlan, the_oldest_kept_message_may_be_the_first_one_missing) {
  EXPECT_TRUE(planRecovery(kState, StreamPosition{10, "e1"}, 0).recovered);
  EXPECT_EQ(planRecovery(kState, StreamPosition{10, "e1"}, 0).count(), 10u);
  // 10 was the last seen; had 11 been dropped too, the client would miss it.
  EXPECT_FALSE(planRecovery(StreamState{"e1", 20, 12}, StreamPosition{10, "e1"}, 0).recovered);
}

TEST(RecoveryPlan, an_up_to_date_client_recovers_nothing_and_is_recovered) {
  const RecoveryPlan plan = planRecovery(kState, StreamPosition{20, "e1"}, 5);
  EXPECT_TRUE(plan.recovered);
  EXPECT_EQ(plan.count(), 0u);
}

TEST(RecoveryPlan, no_partial_recovery) {
  for (const StreamPosition& since : {StreamPosition{5, "e1"},    // gap larger than history
                                      StreamPosition{17, "e0"},   // the stream was made again
                                      StreamPosition{21, "e1"},   // a position never reached
                                      StreamPosition{17, ""}}) {  // no epoch at all
    const RecoveryPlan plan = planRecovery(kState, since, 100);
    EXPECT_FALSE(plan.recovered) << since.offset << " " << since.epoch;
    EXPECT_EQ(plan.count(), 0u) << since.offset << " " << since.epoch;
  }
}

TEST(RecoveryPlan, an_empty_stream_recovers_position_zero) {
  const StreamState empty{"e9", 0, 1};
  EXPECT_TRUE(planRecovery(empty, StreamPosition{0, "e9"}, 0).recovered);
  EXPECT_EQ(planRecovery(empty, StreamPosition{0, "e9"}, 0).count(), 0u);
  EXPECT_FALSE(planRecovery(empty, StreamPosition{1, "e9"}, 0).recovered);
  EXPECT_EQ(planRecovery(empty, std::nullopt, 10).count(), 0u);
}

TEST(RecoveryPlan, without_since_the_newest_join_messages_still_kept) {
  const RecoveryPlan three = planRecovery(kState, std::nullopt, 3);
  EXPECT_FALSE(three.recovered);
  EXPECT_EQ(three.first, 18u);
  EXPECT_EQ(three.last, 20u);
  const RecoveryPlan many = planRecovery(kState, std::nullopt, 100);
  EXPECT_EQ(many.first, 11u);  // only what is kept
  EXPECT_EQ(many.count(), 10u);
  EXPECT_EQ(planRecovery(kState, std::nullopt, 0).count(), 0u);
  EXPECT_EQ(planRecovery(StreamState{"e1", 2, 1}, std::nullopt, 100).count(), 2u);
  // A stream that dropped everything it had (TTL) keeps none: top 20, oldest 21.
  EXPECT_EQ(planRecovery(StreamState{"e1", 20, 21}, std::nullopt, 5).count(), 0u);
  EXPECT_TRUE(planRecovery(StreamState{"e1", 20, 21}, StreamPosition{20, "e1"}, 0).recovered);
}
