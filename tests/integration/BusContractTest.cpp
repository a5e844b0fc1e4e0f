// The behaviour every bus plugin must have, run against each plugin through the public API, as
// the host loads it (BusLoader): inmem, and redis against a real redis-server.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bus/BusLoader.h"
#include "support/BusInbox.h"
#include "support/RedisServer.h"

namespace heimdallr::bus {

namespace {
using namespace std::chrono_literals;

using Inbox = test::BusInbox;

BusMessagePtr message(const std::string& subject, const std::string& payload) {
  return test::busMessage(subject, payload);
}
}  // namespace

class BusContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      if (!test::RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
      redis_ = std::make_unique<test::RedisServer>();
    }
    loader_ = std::make_unique<BusLoader>(GetParam(), HEIMDALLR_PLUGIN_DIR);
    loader_->bus().start("node-a", options());
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!bus().status().up && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(bus().status().up) << bus().status().reason;
  }

  Options options() const {
    if (!redis_) return {};
    return {{"port", std::to_string(redis_->port())}, {"host", "127.0.0.1"}};
  }

  Bus& bus() { return loader_->bus(); }

  /// Returns once every subscription made so far is in effect. Redis subscribes asynchronously,
  /// in order on one connection: when a fresh subscription hears a probe, all earlier ones would.
  void barrier() {
    Inbox probe;
    const std::string subject = "barrier." + std::to_string(++barriers_);
    const auto id = bus().subscribe(subject, probe.handler());
    for (int i = 0; i < 100; ++i) {
      bus().publish(message(subject, "p"));
      if (probe.waitFor(1, 50ms)) break;
    }
    ASSERT_TRUE(probe.waitFor(1, 0ms)) << "subscriptions never took effect";
    bus().unsubscribe(id);
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<BusLoader> loader_;
  int barriers_ = 0;
};

TEST_P(BusContract, exact_subscription_receives_the_message_intact) {
  Inbox inbox;
  bus().subscribe("room.42", inbox.handler());
  barrier();
  bus().publish(message("room.42", std::string("hi\0there", 8)));
  ASSERT_TRUE(inbox.waitFor(1));
  const auto msg = inbox.messages().at(0);
  EXPECT_EQ("room.42", msg->subject);
  EXPECT_EQ(std::string("hi\0there", 8), msg->payload);
  EXPECT_EQ("node-a", msg->origin);
  EXPECT_EQ(BusMessage::kFlagBinary, msg->flags);
  EXPECT_EQ(1234567890123, msg->originTimeNs);
}

TEST_P(BusContract, publish_carries_kind_position_and_sender_as_they_are) {
  Inbox inbox;
  bus().subscribe("room.42", inbox.handler());
  barrier();
  auto msg = std::make_shared<BusMessage>(*message("room.42", R"({"user":"bob"})"));
  msg->flags = BusMessage::kFlagJson;
  msg->kind = MessageKind::kLeave;
  msg->offset = 0x0102030405060708ULL;
  msg->epoch = "0123456789abcdef";
  msg->senderClient = "client-7";
  msg->senderUser = std::string(300, 'u');  // longer than the wire form keeps
  bus().publish(msg);
  ASSERT_TRUE(inbox.waitFor(1));
  const auto got = inbox.messages().at(0);
  EXPECT_EQ(BusMessage::kFlagJson, got->flags);
  EXPECT_EQ(MessageKind::kLeave, got->kind);
  EXPECT_EQ(0x0102030405060708ULL, got->offset);
  EXPECT_EQ("0123456789abcdef", got->epoch);
  EXPECT_EQ("client-7", got->senderClient);
  EXPECT_EQ(R"({"user":"bob"})", got->payload);
  // A plugin may pass the user whole or cut it to what its wire form carries (255 bytes).
  EXPECT_EQ(0u, msg->senderUser.rfind(got->senderUser, 0));
  EXPECT_GE(got->senderUser.size(), 255u);
}

TEST_P(BusContract, wildcards_match_like_nats) {
  Inbox star, tail, other;
  bus().subscribe("stats.*", star.handler());
  bus().subscribe("room.>", tail.handler());
  bus().subscribe("room.43", other.handler());
  barrier();
  bus().publish(message("stats.node-b", "s"));
  bus().publish(message("room.42", "r1"));
  bus().publish(message("room.42.history", "r2"));
  bus().publish(message("stats.a.b", "not for stats.*"));
  ASSERT_TRUE(star.waitFor(1));
  ASSERT_TRUE(tail.waitFor(2));
  // A marker published last: once it arrives, everything before it has been dispatched.
  Inbox marker;
  bus().subscribe("marker", marker.handler());
  barrier();
  bus().publish(message("marker", "m"));
  ASSERT_TRUE(marker.waitFor(1));
  EXPECT_EQ(1u, star.messages().size());
  EXPECT_EQ(2u, tail.messages().size());
  EXPECT_TRUE(other.messages().empty());
}

TEST_P(BusContract, unsubscribe_stops_delivery) {
  Inbox inbox, marker;
  const auto id = bus().subscribe("room.1", inbox.handler());
  bus().subscribe("marker", marker.handler());
  barrier();
  bus().publish(message("room.1", "before"));
  ASSERT_TRUE(inbox.waitFor(1));
  bus().unsubscribe(id);
  bus().publish(message("room.1", "after"));
  bus().publish(message("marker", "m"));
  ASSERT_TRUE(marker.waitFor(1));
  EXPECT_EQ(1u, inbox.messages().size());
}

TEST_P(BusContract, unsubscribing_one_wildcard_leaves_an_overlapping_one_live) {
  // "a.*" and "a.>" differ for the bus but a backend may store them alike (Redis: one glob).
  Inbox star, tail, marker;
  const auto starId = bus().subscribe("a.*", star.handler());
  bus().subscribe("a.>", tail.handler());
  bus().subscribe("marker", marker.handler());
  barrier();
  bus().unsubscribe(starId);
  barrier();
  bus().publish(message("a.b", "one"));
  bus().publish(message("a.b.c", "two"));
  bus().publish(message("marker", "m"));
  ASSERT_TRUE(marker.waitFor(1));
  ASSERT_TRUE(tail.waitFor(2));
  EXPECT_TRUE(star.messages().empty());
}

TEST_P(BusContract, keeps_each_publishers_order) {
  Inbox inbox;
  bus().subscribe("room.order", inbox.handler());
  barrier();
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) bus().publish(message("room.order", std::to_string(i)));
  ASSERT_TRUE(inbox.waitFor(kCount));
  const auto messages = inbox.messages();
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(std::to_string(i), messages[i]->payload);
}

TEST_P(BusContract, two_subscriptions_to_one_subject_both_receive) {
  Inbox a, b;
  bus().subscribe("room.7", a.handler());
  bus().subscribe("room.7", b.handler());
  barrier();
  bus().publish(message("room.7", "x"));
  EXPECT_TRUE(a.waitFor(1));
  EXPECT_TRUE(b.waitFor(1));
}

TEST_P(BusContract, invalid_pattern_is_rejected) {
  Inbox inbox;
  EXPECT_THROW(bus().subscribe("room..1", inbox.handler()), std::invalid_argument);
  EXPECT_THROW(bus().subscribe("room.>.x", inbox.handler()), std::invalid_argument);
}

TEST_P(BusContract, unknown_option_is_rejected_naming_it) {
  BusLoader other(GetParam(), HEIMDALLR_PLUGIN_DIR);
  try {
    other.bus().start("node-b", {{"no_such_option", "1"}});
    FAIL() << "start() accepted an unknown option";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(0u, std::string(e.what()).rfind("no_such_option", 0)) << e.what();
  }
}

TEST_P(BusContract, no_handler_runs_after_stop) {
  Inbox inbox;
  bus().subscribe("room.1", inbox.handler());
  bus().stop();
  bus().publish(message("room.1", "late"));
  std::this_thread::sleep_for(50ms);  // a negative check: nothing may arrive, however long
  EXPECT_TRUE(inbox.messages().empty());
}

INSTANTIATE_TEST_SUITE_P(Plugins, BusContract, ::testing::Values("inmem", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace heimdallr::bus
