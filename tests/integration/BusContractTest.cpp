// The behaviour every bus plugin must have, run against each plugin through the public API, as
// the host loads it (BusLoader). Later plugins join the INSTANTIATE list.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "bus/BusLoader.h"

namespace heimdallr::bus {

namespace {
using namespace std::chrono_literals;

/// Collects what a subscription receives (on the bus thread) for the test thread to inspect.
class Inbox {
 public:
  MessageHandler handler() {
    return [this](const BusMessagePtr& msg) {
      std::lock_guard lock(mutex_);
      messages_.push_back(msg);
      changed_.notify_all();
    };
  }
  bool waitFor(size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return messages_.size() >= count; });
  }
  std::vector<BusMessagePtr> messages() {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<BusMessagePtr> messages_;
};

BusMessagePtr message(const std::string& subject, const std::string& payload,
                      const std::string& origin = "node-a") {
  auto msg = std::make_shared<BusMessage>();
  msg->subject = subject;
  msg->payload = payload;
  msg->origin = origin;
  msg->flags = BusMessage::kFlagBinary;
  msg->originTimeNs = 1234567890123;
  return msg;
}
}  // namespace

class BusContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    loader_ = std::make_unique<BusLoader>(GetParam(), HEIMDALLR_PLUGIN_DIR);
    loader_->bus().start("node-a", {});
  }
  Bus& bus() { return loader_->bus(); }

  std::unique_ptr<BusLoader> loader_;
};

TEST_P(BusContract, exact_subscription_receives_the_message_intact) {
  Inbox inbox;
  bus().subscribe("room.42", inbox.handler());
  bus().publish(message("room.42", std::string("hi\0there", 8)));
  ASSERT_TRUE(inbox.waitFor(1));
  const auto msg = inbox.messages().at(0);
  EXPECT_EQ("room.42", msg->subject);
  EXPECT_EQ(std::string("hi\0there", 8), msg->payload);
  EXPECT_EQ("node-a", msg->origin);
  EXPECT_EQ(BusMessage::kFlagBinary, msg->flags);
  EXPECT_EQ(1234567890123, msg->originTimeNs);
}

TEST_P(BusContract, wildcards_match_like_nats) {
  Inbox star, tail, other;
  bus().subscribe("stats.*", star.handler());
  bus().subscribe("room.>", tail.handler());
  bus().subscribe("room.43", other.handler());
  bus().publish(message("stats.node-b", "s"));
  bus().publish(message("room.42", "r1"));
  bus().publish(message("room.42.history", "r2"));
  bus().publish(message("stats.a.b", "not for stats.*"));
  ASSERT_TRUE(star.waitFor(1));
  ASSERT_TRUE(tail.waitFor(2));
  // A marker published last: once it arrives, everything before it has been dispatched.
  Inbox marker;
  bus().subscribe("marker", marker.handler());
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
  bus().publish(message("room.1", "before"));
  ASSERT_TRUE(inbox.waitFor(1));
  bus().unsubscribe(id);
  bus().publish(message("room.1", "after"));
  bus().publish(message("marker", "m"));
  ASSERT_TRUE(marker.waitFor(1));
  EXPECT_EQ(1u, inbox.messages().size());
}

TEST_P(BusContract, keeps_each_publishers_order) {
  Inbox inbox;
  bus().subscribe("room.order", inbox.handler());
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

INSTANTIATE_TEST_SUITE_P(Plugins, BusContract, ::testing::Values("inmem"),
                         [](const auto& info) { return info.param; });

}  // namespace heimdallr::bus
