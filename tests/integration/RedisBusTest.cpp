// What only the Redis plugin does: outages, reconnects, AUTH, channel prefixes, its pending
// limit and its options, and how its Storage lives with Redis (epochs, TTLs, outages, a hung
// server). Always against a real redis-server on a free loopback port.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "bus/BusLoader.h"
#include "heimdallr/bus/Storage.h"
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

/// The answers to storage requests, shared with the callbacks (a late one never outlives it).
template <class Result>
class Answers {
 public:
  std::function<void(Result)> callback() {
    return [state = state_](Result result) {
      std::lock_guard lock(state->mutex);
      state->results.push_back(std::move(result));
      state->threads.push_back(std::this_thread::get_id());
      state->changed.notify_all();
    };
  }
  bool waitFor(size_t count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, timeout, [&] { return state_->results.size() >= count; });
  }
  std::vector<Result> results() const {
    std::lock_guard lock(state_->mutex);
    return state_->results;
  }
  Result first() const {
    std::lock_guard lock(state_->mutex);
    if (!state_->results.empty()) return state_->results.front();
    Result none;
    none.error = "no answer";
    return none;
  }
  std::thread::id firstThread() const {
    std::lock_guard lock(state_->mutex);
    return state_->threads.empty() ? std::thread::id() : state_->threads.front();
  }
  size_t size() const {
    std::lock_guard lock(state_->mutex);
    return state_->results.size();
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<Result> results;
    std::vector<std::thread::id> threads;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

const StreamLimits kLimits{100, 60, 300};

BusMessagePtr stored(const std::string& subject, const std::string& payload) {
  auto msg = std::make_shared<BusMessage>(*busMessage(subject, payload));
  msg->senderClient = "client-1";
  msg->senderUser = "alice";
  return msg;
}

AppendResult appendNow(Bus& bus, const std::string& subject, const std::string& payload,
                       const StreamLimits& limits = kLimits) {
  Answers<AppendResult> answers;
  bus.storage()->append(stored(subject, payload), limits, answers.callback());
  EXPECT_TRUE(answers.waitFor(1)) << "append never answered";
  return answers.first();
}

StreamRead readNow(Bus& bus, const std::string& subject, const ReadRequest& request) {
  Answers<StreamRead> answers;
  bus.storage()->read(subject, request, answers.callback());
  EXPECT_TRUE(answers.waitFor(1)) << "read never answered";
  return answers.first();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
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
  // The exact subscription heard when it took effect, and again after the resubscription
  // (MessageKind::kResync: what came meanwhile may be missing); patterns are not streams.
  EXPECT_TRUE(exact.waitForResyncs(2)) << exact.resyncs();
  EXPECT_EQ(0u, wildcard.resyncs());
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
                                                                {"storage_timeout_ms", "5"},
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

// --- Storage ------------------------------------------------------------------------------------

TEST_F(RedisBusTest, storage_keys_follow_the_channel_prefix) {
  RedisServer redis;
  auto loader = startBus(redis.port(), {{"channel_prefix", "blue"}});
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  ASSERT_NE(nullptr, bus.storage());
  ASSERT_EQ(1u, appendNow(bus, "room.1", "a").offset);
  ASSERT_EQ(2u, appendNow(bus, "room.1", "b").offset);
  EXPECT_EQ(":2\r\n", redis.command("XLEN blue.stream.room.1"));
  EXPECT_TRUE(contains(redis.command("HGET blue.meta.room.1 t"), "\r\n2\r\n"));
  EXPECT_EQ(":1\r\n", redis.command("EXISTS blue.meta.room.1"));
  bus.storage()->presenceSet("room.1", {"c1", "u1", "", "node-a"}, 30);
  EXPECT_TRUE(
      waitUntil([&] { return redis.command("HLEN blue.presence.room.1") == ":1\r\n"; }, 5s));
  EXPECT_EQ(":1\r\n", redis.command("ZCARD blue.presence-exp.room.1"));
  // The scripts loaded at connect were used: no EVALSHA fell back to EVAL.
  EXPECT_FALSE(contains(redis.command("INFO errorstats"), "NOSCRIPT"))
      << redis.command("INFO errorstats");
  EXPECT_TRUE(contains(redis.command("INFO commandstats"), "cmdstat_evalsha:calls=3,"))
      << redis.command("INFO commandstats");
}

TEST_F(RedisBusTest, epoch_changes_and_offsets_restart_after_flushall_or_a_restart) {
  RedisServer redis;
  auto loader = startBus(redis.port());
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  const AppendResult first = appendNow(bus, "room.1", "a");
  ASSERT_EQ("", first.error);
  EXPECT_EQ(1u, first.offset);
  EXPECT_EQ(16u, first.epoch.size()) << first.epoch;
  EXPECT_EQ(2u, appendNow(bus, "room.1", "b").offset);

  ASSERT_EQ("+OK\r\n", redis.command("FLUSHALL"));
  const AppendResult flushed = appendNow(bus, "room.1", "c");
  ASSERT_EQ("", flushed.error);
  EXPECT_EQ(1u, flushed.offset);
  EXPECT_NE(first.epoch, flushed.epoch);
  const StreamRead afterFlush = readNow(bus, "room.1", {0, 10, false, 300});
  EXPECT_EQ(1u, afterFlush.top);
  ASSERT_EQ(1u, afterFlush.messages.size());
  EXPECT_EQ("c", afterFlush.messages[0]->payload);

  redis.kill();
  ASSERT_TRUE(waitUntil([&] { return !bus.status().up; }, 5s));
  redis.restart();  // no persistence: everything is gone, scripts too
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  const AppendResult restarted = appendNow(bus, "room.1", "d");
  ASSERT_EQ("", restarted.error);
  EXPECT_EQ(1u, restarted.offset);
  EXPECT_NE(flushed.epoch, restarted.epoch);
}

TEST_F(RedisBusTest, stream_expires_after_its_ttl_while_the_meta_keeps_top_and_epoch) {
  RedisServer redis;
  auto loader = startBus(redis.port());
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  const StreamLimits limits{10, 1, 30};
  std::string epoch;
  for (int i = 0; i < 3; ++i) epoch = appendNow(bus, "room.ttl", std::to_string(i), limits).epoch;
  const StreamRead before = readNow(bus, "room.ttl", {0, 10, false, 30});
  EXPECT_EQ(3u, before.messages.size());
  EXPECT_EQ(1u, before.oldest);

  StreamRead expired;
  ASSERT_TRUE(waitUntil(
      [&] {
        expired = readNow(bus, "room.ttl", {0, 10, false, 30});
        return expired.messages.empty();
      },
      5s))
      << "the stream did not expire";
  EXPECT_EQ("", expired.error);
  EXPECT_EQ(epoch, expired.epoch);
  EXPECT_EQ(3u, expired.top);
  EXPECT_EQ(4u, expired.oldest);
  const std::string metaTtl = redis.command("TTL heimdallr.meta.room.ttl");
  EXPECT_GT(std::stoi(metaTtl.substr(1)), 20) << metaTtl;
  // The stream goes on where it was: a client that was away learns of its gap.
  const AppendResult next = appendNow(bus, "room.ttl", "next", limits);
  EXPECT_EQ(4u, next.offset);
  EXPECT_EQ(epoch, next.epoch);
}

TEST_F(RedisBusTest, storage_fails_fast_while_redis_is_down_and_works_once_it_is_up) {
  const uint16_t port = test::freeLoopbackPort();
  auto loader = startBus(port);
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return !bus.status().reason.empty(); }, 5s));
  ASSERT_NE(nullptr, bus.storage());
  Storage& storage = *bus.storage();

  const auto start = std::chrono::steady_clock::now();
  Answers<AppendResult> append;
  Answers<StreamRead> read;
  Answers<PresenceList> list;
  storage.append(stored("room.1", "x"), kLimits, append.callback());
  storage.read("room.1", {0, 10, false, 30}, read.callback());
  storage.presenceList("room.1", list.callback());
  storage.presenceSet("room.1", {"c1", "u1", "", "node-a"}, 30);  // dropped, silently
  storage.presenceRemove("room.1", "c1");
  ASSERT_TRUE(append.waitFor(1, 2s));
  ASSERT_TRUE(read.waitFor(1, 2s));
  ASSERT_TRUE(list.waitFor(1, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "not fast: waited for a deadline";
  for (const std::string& error : {append.first().error, read.first().error, list.first().error}) {
    EXPECT_EQ(0u, error.rfind("bus down: ", 0)) << error;
    EXPECT_TRUE(contains(error, "redis")) << error;
  }
  EXPECT_EQ(0u, append.first().offset);
  EXPECT_NE(std::this_thread::get_id(), append.firstThread()) << "answered inside append()";
  EXPECT_NE(std::thread::id(), append.firstThread());
  EXPECT_EQ(1u, bus.counters().dropped);
  EXPECT_EQ(0u, bus.counters().published);

  RedisServer redis(port);
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  const AppendResult ok = appendNow(bus, "room.1", "y");
  EXPECT_EQ("", ok.error);
  EXPECT_EQ(1u, ok.offset);
  EXPECT_EQ(1u, bus.counters().published);
  EXPECT_EQ(0u, bus.counters().pendingBytes);
  std::this_thread::sleep_for(50ms);  // a negative check: no second answer trails in
  EXPECT_EQ(1u, append.size());
  EXPECT_EQ(1u, read.size());
  EXPECT_EQ(1u, list.size());
}

TEST_F(RedisBusTest, storage_times_out_while_redis_hangs_and_works_again_after_sigcont) {
  RedisServer redis;
  auto loader = startBus(redis.port());  // the default deadline: 5 s
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  ASSERT_EQ(1u, appendNow(bus, "room.h", "before").offset);
  Storage& storage = *bus.storage();

  redis.pause();  // SIGSTOP: the connection stays open, nothing answers
  const auto start = std::chrono::steady_clock::now();
  Answers<AppendResult> append;
  Answers<StreamRead> read;
  Answers<PresenceList> list;
  storage.append(stored("room.h", "hung"), kLimits, append.callback());
  storage.read("room.h", {0, 10, false, 30}, read.callback());
  storage.presenceSet("room.h", {"c1", "u1", "", "node-a"}, 30);
  storage.presenceList("room.h", list.callback());
  ASSERT_TRUE(append.waitFor(1, 8s));
  ASSERT_TRUE(read.waitFor(1, 1s));
  ASSERT_TRUE(list.waitFor(1, 1s));
  const auto waited = std::chrono::steady_clock::now() - start;
  std::cout << "[ redis ] hung: answered after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms"
            << std::endl;
  EXPECT_GE(waited, 4500ms);
  EXPECT_LT(waited, 6500ms);
  for (const std::string& error : {append.first().error, read.first().error, list.first().error}) {
    EXPECT_EQ(0u, error.rfind("bus timeout: ", 0)) << error;
  }
  EXPECT_FALSE(bus.status().up) << "a Redis that does not answer is not up";
  EXPECT_TRUE(contains(bus.status().reason, "no reply")) << bus.status().reason;

  redis.resume();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  // Redis ran the timed-out append after all once it woke up: offsets go on after it.
  const AppendResult after = appendNow(bus, "room.h", "after");
  EXPECT_EQ("", after.error);
  EXPECT_EQ(3u, after.offset);
  EXPECT_EQ((std::set<std::string>{"c1"}), [&] {
    Answers<PresenceList> again;
    storage.presenceList("room.h", again.callback());
    again.waitFor(1);
    std::set<std::string> clients;
    for (const auto& m : again.first().members) clients.insert(m.client);
    return clients;
  }());
  std::this_thread::sleep_for(50ms);  // a negative check: the late replies were ignored
  EXPECT_EQ(1u, append.size());
  EXPECT_EQ(1u, read.size());
  EXPECT_EQ(1u, list.size());
  EXPECT_EQ(0u, bus.counters().pendingBytes);
}

TEST_F(RedisBusTest, storage_requests_in_flight_fail_when_the_connection_dies) {
  RedisServer redis;
  auto loader = startBus(redis.port());
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  redis.pause();
  Answers<AppendResult> append;
  Answers<StreamRead> read;
  bus.storage()->append(stored("room.k", "lost"), kLimits, append.callback());
  bus.storage()->read("room.k", {0, 10, false, 30}, read.callback());
  std::this_thread::sleep_for(100ms);  // sent, waiting for Redis
  EXPECT_EQ(0u, append.size());
  const auto start = std::chrono::steady_clock::now();
  redis.kill();
  ASSERT_TRUE(append.waitFor(1, 3s));
  ASSERT_TRUE(read.waitFor(1, 1s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s)
      << "answered by the deadline, not the loss";
  EXPECT_EQ(0u, append.first().error.rfind("bus down: ", 0)) << append.first().error;
  EXPECT_EQ(0u, read.first().error.rfind("bus down: ", 0)) << read.first().error;

  redis.restart();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  EXPECT_EQ(1u, appendNow(bus, "room.k", "again").offset);
  EXPECT_EQ(1u, append.size());
  EXPECT_EQ(0u, bus.counters().pendingBytes);
}

TEST_F(RedisBusTest, stop_answers_storage_requests_waiting_on_a_hung_redis) {
  RedisServer redis;
  auto loader = startBus(redis.port());
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  redis.pause();
  Answers<AppendResult> appends;
  Answers<PresenceList> lists;
  for (int i = 0; i < 10; ++i) {
    bus.storage()->append(stored("room.s", std::to_string(i)), kLimits, appends.callback());
    bus.storage()->presenceList("room.s", lists.callback());
  }
  std::this_thread::sleep_for(100ms);  // in flight
  const auto start = std::chrono::steady_clock::now();
  bus.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ASSERT_EQ(10u, appends.size()) << "stop() returned with appends unanswered";
  ASSERT_EQ(10u, lists.size());
  for (const auto& result : appends.results()) EXPECT_EQ("bus stopped", result.error);
  for (const auto& result : lists.results()) EXPECT_EQ("bus stopped", result.error);
  EXPECT_EQ(10u, bus.counters().dropped);
}

TEST_F(RedisBusTest, appends_past_the_pending_limit_are_refused_and_counted) {
  RedisServer redis;
  auto loader = startBus(redis.port(), {{"max_pending_bytes", "65536"}});
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  redis.pause();
  Answers<AppendResult> answers;
  const std::string tenKiB(10 * 1024, 'x');
  for (int i = 0; i < 100; ++i) {
    bus.storage()->append(stored("room.big", tenKiB), kLimits, answers.callback());
  }
  ASSERT_TRUE(answers.waitFor(90, 2s)) << "refusals must not wait for Redis";
  EXPECT_LE(bus.counters().pendingBytes, 65536u);
  EXPECT_GE(bus.counters().dropped, 90u);

  redis.resume();
  ASSERT_TRUE(answers.waitFor(100, 5s));
  size_t stored = 0;
  size_t refused = 0;
  for (const auto& result : answers.results()) {
    stored += result.error.empty() ? 1 : 0;
    refused += result.error == "bus overloaded: max_pending_bytes reached" ? 1 : 0;
  }
  EXPECT_GE(refused, 90u);
  std::cout << "[ redis ] " << stored << " of 100 x 10 KiB appends kept with a 64 KiB bound"
            << std::endl;
  EXPECT_GE(stored, 1u);
  EXPECT_EQ(100u, stored + refused);
  EXPECT_EQ(stored, bus.counters().published);
  EXPECT_TRUE(waitUntil([&] { return bus.counters().pendingBytes == 0; }, 2s));
}

TEST_F(RedisBusTest, storage_survives_a_flushed_script_cache) {
  RedisServer redis;
  auto loader = startBus(redis.port());
  Bus& bus = loader->bus();
  ASSERT_TRUE(waitUntil([&] { return bus.status().up; }, 5s)) << bus.status().reason;
  ASSERT_EQ(1u, appendNow(bus, "room.f", "a").offset);
  ASSERT_EQ("+OK\r\n", redis.command("SCRIPT FLUSH"));
  const AppendResult second = appendNow(bus, "room.f", "b");
  EXPECT_EQ("", second.error);
  EXPECT_EQ(2u, second.offset);
  const StreamRead read = readNow(bus, "room.f", {0, 10, false, 30});
  EXPECT_EQ("", read.error);
  EXPECT_EQ(2u, read.messages.size());
}

}  // namespace heimdallr::bus
