// What only the Redis plugin does: outages, reconnects, AUTH, channel prefixes, its pending
// limit and its options. Always against a real redis-server on a free loopback port.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <stdexcept>
#include <thread>

#include "bus/BusLoader.h"
#include "support/BusInbox.h"
#include "support/FreePort.h"
#include "support/RedisServer.h"

namespace heimdallr::bus {

namespace {
using namespace std::chrono_literals;
using test::BusInbox;
using test::busMessage;
using test::RedisServer;

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class RedisBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  }

  std::unique_ptr<BusLoader> startBus(uint16_t port, Options extra = {}) {
    auto loader = std::make_unique<BusLoader>("redis", HEIMDALLR_PLUGIN_DIR);
    extra["port"] = std::to_string(port);
    extra["host"] = "127.0.0.1";
    loader->bus().start("node-a", extra);
    return loader;
  }

  /// Publishes probes on `subject` until `inbox` hears one: the subscription is live.
  static bool probeUntilHeard(Bus& publisher, const std::string& subject, BusInbox& inbox,
                              std::chrono::milliseconds timeout = 5s) {
    const size_t before = inbox.size();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      publisher.publish(busMessage(subject, "probe"));
      if (inbox.waitFor(before + 1, 20ms)) return true;
    }
    return false;
  }
};
}  // namespace

TEST_F(RedisBusTest, starts_down_when_redis_is_unreachable_and_comes_up_when_it_appears) {
  const uint16_t port = test::freeLoopbackPort();
  auto loader = startBus(port);
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return !bus.status().reason.empty(); }, 5s));
  EXPECT_FALSE(bus.status().up);
  EXPECT_NE(std::string::npos, bus.status().reason.find("redis")) << bus.status().reason;

  BusInbox inbox;
  bus.subscribe("room.1", inbox.handler());  // made while down: must be sent once Redis is up
  RedisServer redis(port);
  EXPECT_TRUE(waitUntil([&] { return bus.status().up; }, 3s)) << bus.status().reason;
  EXPECT_TRUE(probeUntilHeard(bus, "room.1", inbox));
}

TEST_F(RedisBusTest, survives_sigkill_resubscribes_on_restart_and_never_duplicates) {
  RedisServer redis;
  auto loader = startBus(redis.port());
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s));
  BusInbox exact, wildcard;
  bus.subscribe("room.9", exact.handler());
  bus.subscribe("stats.*", wildcard.handler());
  ASSERT_TRUE(probeUntilHeard(bus, "room.9", exact));

  redis.kill();
  ASSERT_TRUE(waitUntil([&] { return !bus.status().up; }, 5s));
  EXPECT_FALSE(bus.status().reason.empty());
  for (int i = 0; i < 10; ++i) bus.publish(busMessage("room.9", "during"));  // must not block

  const auto restarted = std::chrono::steady_clock::now();
  redis.restart();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  ASSERT_TRUE(probeUntilHeard(bus, "room.9", exact));
  ASSERT_TRUE(probeUntilHeard(bus, "stats.node-b", wildcard));
  const auto recovery = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - restarted);
  std::cout << "[ redis ] delivery resumed " << recovery.count() << " ms after restart"
            << std::endl;
  EXPECT_LT(recovery.count(), 2000) << "target: delivery back within 2 s of Redis";

  // After recovery: every message exactly once, in order.
  const size_t before = exact.size();
  for (int i = 0; i < 200; ++i) bus.publish(busMessage("room.9", "after-" + std::to_string(i)));
  ASSERT_TRUE(exact.waitFor(before + 200));
  std::this_thread::sleep_for(100ms);  // a negative check: no duplicate may trail in
  const auto messages = exact.messages();
  std::vector<std::string> after;
  for (const auto& m : messages) {
    if (m->payload.rfind("after-", 0) == 0) after.push_back(m->payload);
  }
  ASSERT_EQ(200u, after.size());
  for (int i = 0; i < 200; ++i) EXPECT_EQ("after-" + std::to_string(i), after[i]);

  // What the metrics read: one reconnection, and acknowledged publishes were timed.
  const BusCounters counters = bus.counters();
  EXPECT_EQ(1u, counters.reconnects);
  EXPECT_GE(counters.published, 210u);
  EXPECT_GE(counters.publishLatencyCount, 200u);
  uint64_t bucketed = 0;
  for (uint64_t n : counters.publishLatencyBuckets) bucketed += n;
  EXPECT_EQ(counters.publishLatencyCount, bucketed);
}

TEST_F(RedisBusTest, authenticates_with_a_password_and_reports_a_wrong_one) {
  RedisServer redis(0, {"--requirepass", "s3cret"});
  auto good = startBus(redis.port(), {{"password", "s3cret"}});
  EXPECT_TRUE(waitUntil([&] { return good->bus().status().up; }, 5s))
      << good->bus().status().reason;
  BusInbox inbox;
  good->bus().subscribe("room.auth", inbox.handler());
  EXPECT_TRUE(probeUntilHeard(good->bus(), "room.auth", inbox));

  auto bad = startBus(redis.port(), {{"password", "wrong"}});
  ASSERT_TRUE(
      waitUntil([&] { return bad->bus().status().reason.find("AUTH") != std::string::npos; }, 5s))
      << bad->bus().status().reason;
  EXPECT_FALSE(bad->bus().status().up);
  EXPECT_NE(std::string::npos, bad->bus().status().reason.find("AUTH"))
      << bad->bus().status().reason;
}

TEST_F(RedisBusTest, channel_prefixes_keep_clusters_apart_on_one_redis) {
  RedisServer redis;
  auto blue = startBus(redis.port(), {{"channel_prefix", "blue"}});
  auto green = startBus(redis.port(), {{"channel_prefix", "green"}});
  ASSERT_TRUE(waitUntil([&] { return blue->bus().status().up && green->bus().status().up; }, 5s));
  BusInbox blueInbox, greenInbox;
  blue->bus().subscribe("room.1", blueInbox.handler());
  green->bus().subscribe("room.1", greenInbox.handler());
  ASSERT_TRUE(probeUntilHeard(blue->bus(), "room.1", blueInbox));
  ASSERT_TRUE(probeUntilHeard(green->bus(), "room.1", greenInbox));
  const size_t greenBefore = greenInbox.size();
  const size_t blueBefore = blueInbox.size();
  for (int i = 0; i < 20; ++i) blue->bus().publish(busMessage("room.1", "blue only"));
  ASSERT_TRUE(blueInbox.waitFor(blueBefore + 20));
  ASSERT_TRUE(probeUntilHeard(green->bus(), "room.1", greenInbox));  // green's own probe
  for (const auto& m : greenInbox.messages()) EXPECT_NE("blue only", m->payload);
  EXPECT_GE(greenInbox.size(), greenBefore + 1);
}

TEST_F(RedisBusTest, subscribes_only_while_interested) {
  RedisServer redis;
  auto loader = startBus(redis.port());
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s));
  auto numsub = [&] { return redis.command("PUBSUB NUMSUB heimdallr.room.5"); };
  BusInbox a, b;
  const auto first = bus.subscribe("room.5", a.handler());
  const auto second = bus.subscribe("room.5", b.handler());
  ASSERT_TRUE(waitUntil([&] { return numsub().find(":1\r\n") != std::string::npos; }, 5s))
      << numsub();
  bus.unsubscribe(first);
  ASSERT_TRUE(probeUntilHeard(bus, "room.5", b));  // still subscribed for the second
  bus.unsubscribe(second);
  EXPECT_TRUE(waitUntil([&] { return numsub().find(":0\r\n") != std::string::npos; }, 5s))
      << numsub();
}

TEST_F(RedisBusTest, pending_queue_is_bounded_while_redis_hangs) {
  RedisServer redis;
  auto loader = startBus(redis.port(), {{"max_pending_bytes", "65536"}});
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s));
  BusInbox inbox;
  bus.subscribe("room.big", inbox.handler());
  ASSERT_TRUE(probeUntilHeard(bus, "room.big", inbox));
  const size_t before = inbox.size();

  redis.pause();  // SIGSTOP: the connection stays open but nothing is acknowledged
  const std::string tenKiB(10 * 1024, 'x');
  for (int i = 0; i < 100; ++i) bus.publish(busMessage("room.big", tenKiB));  // never blocks
  redis.resume();

  // At most what fits in 64 KiB was kept; the rest was dropped, not buffered.
  std::this_thread::sleep_for(500ms);  // a negative check: count what arrives in a while
  const size_t delivered = inbox.size() - before;
  std::cout << "[ redis ] " << delivered << " of 100 x 10 KiB delivered with a 64 KiB bound"
            << std::endl;
  EXPECT_GE(delivered, 1u);
  EXPECT_LE(delivered, 7u);
  EXPECT_GE(bus.counters().dropped, 90u) << "the refused publishes are counted";
  EXPECT_LE(bus.counters().pendingBytes, 65536u);
}

TEST_F(RedisBusTest, bad_options_are_rejected_naming_the_key) {
  const std::vector<std::pair<std::string, std::string>> bad = {{"port", "0"},
                                                                {"port", "http"},
                                                                {"connect_timeout_ms", "-5"},
                                                                {"channel_prefix", "a b"},
                                                                {"max_pending_bytes", "10"},
                                                                {"host", ""},
                                                                {"username", "alice"},
                                                                {"colour", "blue"}};
  for (const auto& [key, value] : bad) {
    BusLoader loader("redis", HEIMDALLR_PLUGIN_DIR);
    try {
      loader.bus().start("n", {{key, value}});
      ADD_FAILURE() << "accepted " << key << "=" << value;
    } catch (const std::invalid_argument& e) {
      const std::string expectedKey = key == "username" ? "password" : key;
      EXPECT_EQ(0u, std::string(e.what()).rfind(expectedKey, 0)) << e.what();
    }
  }
}

}  // namespace heimdallr::bus
