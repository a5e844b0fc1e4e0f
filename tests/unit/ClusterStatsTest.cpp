#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster/ClusterStats.h"
#include "heimdallr/bus/Subject.h"

namespace heimdallr::cluster {
namespace {

using namespace std::chrono_literals;
using Clock = ClusterStats::Clock;

// Records what ClusterStats does with the bus; deliver() plays the bus thread.
class RecordingBus : public bus::Bus {
 public:
  void start(const std::string&, const bus::Options&) override {}
  void publish(bus::BusMessagePtr msg) override {
    {
      std::lock_guard lock(mutex_);
      published_.push_back(std::move(msg));
    }
    changed_.notify_all();
  }
  bus::SubscriptionId subscribe(const std::string& pattern, bus::MessageHandler handler) override {
    std::lock_guard lock(mutex_);
    subscriptions_.emplace(++nextId_, Subscription{pattern, std::move(handler)});
    return nextId_;
  }
  void unsubscribe(bus::SubscriptionId id) override {
    std::lock_guard lock(mutex_);
    subscriptions_.erase(id);
  }
  bus::BusStatus status() const override { return {true, {}}; }
  bus::BusCounters counters() const override { return {}; }
  void stop() override {}

  // Hands `msg` to every matching subscription, as a bus thread would.
  void deliver(const bus::BusMessagePtr& msg) {
    std::vector<bus::MessageHandler> handlers;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, sub] : subscriptions_) {
        if (bus::subjectMatches(sub.pattern, msg->subject)) handlers.push_back(sub.handler);
      }
    }
    for (const auto& handler : handlers) handler(msg);
  }

  // Waits (bounded) until at least `count` messages were published; returns how many were.
  size_t waitForPublished(size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return published_.size() >= count; });
    return published_.size();
  }
  std::vector<bus::BusMessagePtr> published() const {
    std::lock_guard lock(mutex_);
    return published_;
  }
  std::vector<std::string> patterns() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> result;
    for (const auto& [id, sub] : subscriptions_) result.push_back(sub.pattern);
    return result;
  }

 private:
  struct Subscription {
    std::string pattern;
    bus::MessageHandler handler;
  };
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<bus::BusMessagePtr> published_;
  std::map<bus::SubscriptionId, Subscription> subscriptions_;
  bus::SubscriptionId nextId_ = 0;
};

NodeStats stats(const std::string& node, int64_t connections,
                std::map<std::string, int64_t> rooms) {
  return NodeStats{node, connections, connections + 1, std::move(rooms)};
}

bus::BusMessage message(const std::string& origin, const std::string& payload) {
  bus::BusMessage msg;
  msg.subject = "stats." + origin;
  msg.origin = origin;
  msg.payload = payload;
  return msg;
}

// A fixture with an aggregating ClusterStats whose bus is never started: the tests feed it
// reports directly, with an injected clock.
class ClusterStatsAggregation : public ::testing::Test {
 protected:
  // What node `node` would publish with interval `interval`.
  bus::BusMessagePtr reportFrom(const NodeStats& s, std::chrono::milliseconds interval = 1s) {
    ClusterStats publisher(bus_, s.node, interval, [] { return NodeStats{}; });
    return publisher.makeReport(s);
  }
  void hear(const NodeStats& s, Clock::time_point at) {
    ASSERT_TRUE(view_.receive(*reportFrom(s), at)) << s.node;
  }

  RecordingBus bus_;
  ClusterStats view_{bus_, "self", 1s, [] { return NodeStats{}; }};
  const Clock::time_point t0_ = Clock::now();
};

TEST_F(ClusterStatsAggregation, totals_are_the_sums_of_the_nodes_counts) {
  hear(stats("n1", 3, {{"42", 2}, {"a", 1}}), t0_);
  hear(stats("n2", 2, {{"42", 2}}), t0_);
  hear(stats("n3", 0, {}), t0_);
  hear(stats("n4", 5, {{"43", 1}, {"a", 4}}), t0_);

  const ClusterSnapshot snapshot = view_.snapshot(t0_ + 100ms);
  ASSERT_EQ(4u, snapshot.nodes.size());
  NodeStats sums;
  for (const auto& node : snapshot.nodes) {
    sums.connections += node.stats.connections;
    sums.tcpConnections += node.stats.tcpConnections;
    for (const auto& [room, members] : node.stats.rooms) sums.rooms[room] += members;
  }
  EXPECT_EQ(sums, snapshot.totals);
  EXPECT_EQ(10, snapshot.totals.connections);
  EXPECT_EQ(14, snapshot.totals.tcpConnections);
  EXPECT_EQ((std::map<std::string, int64_t>{{"42", 4}, {"43", 1}, {"a", 5}}),
            snapshot.totals.rooms);
  EXPECT_TRUE(snapshot.totals.node.empty());
}

TEST_F(ClusterStatsAggregation, lists_nodes_sorted_by_id_with_their_own_counts) {
  hear(stats("zeta", 1, {{"r", 1}}), t0_);
  hear(stats("alpha", 2, {{"r", 2}}), t0_);
  const ClusterSnapshot snapshot = view_.snapshot(t0_);
  ASSERT_EQ(2u, snapshot.nodes.size());
  EXPECT_EQ(stats("alpha", 2, {{"r", 2}}), snapshot.nodes[0].stats);
  EXPECT_EQ(stats("zeta", 1, {{"r", 1}}), snapshot.nodes[1].stats);
}

TEST_F(ClusterStatsAggregation, a_report_round_trips_through_the_bus_payload) {
  const NodeStats sent = stats("node-1_A", 7, {{"room-1", 3}, {"x", 4}});
  const bus::BusMessagePtr msg = reportFrom(sent);
  EXPECT_EQ("stats.node-1_A", msg->subject);
  EXPECT_EQ("node-1_A", msg->origin);
  EXPECT_TRUE(bus::isValidSubject(msg->subject));
  ASSERT_TRUE(view_.receive(*msg, t0_));
  const ClusterSnapshot snapshot = view_.snapshot(t0_);
  ASSERT_EQ(1u, snapshot.nodes.size());
  EXPECT_EQ(sent, snapshot.nodes[0].stats);
}

TEST_F(ClusterStatsAggregation, age_is_the_time_since_the_report_arrived) {
  hear(stats("n1", 1, {}), t0_);
  EXPECT_EQ(0, view_.snapshot(t0_).nodes.at(0).ageMs);
  EXPECT_EQ(1500, view_.snapshot(t0_ + 1500ms).nodes.at(0).ageMs);
}

TEST_F(ClusterStatsAggregation, a_node_not_heard_from_for_three_intervals_disappears) {
  hear(stats("quiet", 1, {{"a", 1}}), t0_);
  hear(stats("chatty", 2, {{"a", 2}}), t0_);
  hear(stats("chatty", 2, {{"a", 2}}), t0_ + 2s);

  EXPECT_EQ(2u, view_.snapshot(t0_ + 3s).nodes.size()) << "three intervals have not passed yet";
  const ClusterSnapshot later = view_.snapshot(t0_ + 3s + 1ms);
  ASSERT_EQ(1u, later.nodes.size());
  EXPECT_EQ("chatty", later.nodes[0].stats.node);
  EXPECT_EQ(2, later.totals.connections) << "the forgotten node no longer counts";
  EXPECT_EQ((std::map<std::string, int64_t>{{"a", 2}}), later.totals.rooms);

  EXPECT_TRUE(view_.snapshot(t0_ + 10s).nodes.empty());
}

TEST_F(ClusterStatsAggregation, a_forgotten_node_comes_back_when_it_reports_again) {
  hear(stats("n1", 1, {}), t0_);
  ASSERT_TRUE(view_.snapshot(t0_ + 5s).nodes.empty());
  hear(stats("n1", 4, {}), t0_ + 5s);
  ASSERT_EQ(1u, view_.snapshot(t0_ + 5s).nodes.size());
  EXPECT_EQ(4, view_.snapshot(t0_ + 5s).totals.connections);
}

TEST_F(ClusterStatsAggregation, a_node_with_a_longer_interval_is_kept_for_three_of_its_intervals) {
  ASSERT_TRUE(view_.receive(*reportFrom(stats("slow", 1, {}), 10s), t0_));
  EXPECT_EQ(1u, view_.snapshot(t0_ + 29s).nodes.size());
  EXPECT_TRUE(view_.snapshot(t0_ + 30s + 1ms).nodes.empty());
}

TEST_F(ClusterStatsAggregation, a_newer_report_from_a_node_replaces_its_older_one) {
  hear(stats("n1", 3, {{"a", 2}, {"b", 1}}), t0_);
  hear(stats("n1", 1, {{"c", 1}}), t0_ + 500ms);
  const ClusterSnapshot snapshot = view_.snapshot(t0_ + 600ms);
  ASSERT_EQ(1u, snapshot.nodes.size());
  EXPECT_EQ(stats("n1", 1, {{"c", 1}}), snapshot.nodes[0].stats);
  EXPECT_EQ(100, snapshot.nodes[0].ageMs);
  EXPECT_EQ(1, snapshot.totals.connections);
  EXPECT_EQ((std::map<std::string, int64_t>{{"c", 1}}), snapshot.totals.rooms);
  // Kept alive by the newer report: three intervals from it, not from the first.
  EXPECT_EQ(1u, view_.snapshot(t0_ + 3400ms).nodes.size());
}

TEST_F(ClusterStatsAggregation, malformed_payloads_are_ignored) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const std::vector<std::string> payloads = {
      "",
      "not json",
      "[]",
      "42",
      "null",
      "{}",
      deep,
      R"({"connections":1,"tcp_connections":1})",                                // no rooms
      R"({"tcp_connections":1,"rooms":{}})",                                     // no connections
      R"({"connections":-1,"tcp_connections":1,"rooms":{}})",                    // negative
      R"({"connections":"3","tcp_connections":1,"rooms":{}})",                   // string
      R"({"connections":1.5,"tcp_connections":1,"rooms":{}})",                   // fraction
      R"({"connections":true,"tcp_connections":1,"rooms":{}})",                  // boolean
      R"({"connections":99999999999999999999,"tcp_connections":1,"rooms":{}})",  // huge
      R"({"connections":1,"tcp_connections":1,"rooms":[]})",                     // rooms not a map
      R"({"connections":1,"tcp_connections":1,"rooms":{"a.b":1}})",              // bad room id
      R"({"connections":1,"tcp_connections":1,"rooms":{"a":-2}})",               // negative members
      R"({"connections":1,"tcp_connections":1,"rooms":{"a":{"b":1}}})",          // nested members
      R"({"connections":1,"tcp_connections":1,"rooms":{},"interval_ms":0})",     // bad interval
      R"({"connections":1,"tcp_connections":1,"rooms":{})",                      // truncated
  };
  for (const std::string& payload : payloads) {
    EXPECT_FALSE(view_.receive(message("n1", payload), t0_)) << payload.substr(0, 80);
  }
  EXPECT_TRUE(view_.snapshot(t0_).nodes.empty());
}

TEST_F(ClusterStatsAggregation, a_message_whose_subject_or_origin_is_wrong_is_ignored) {
  const std::string good = reportFrom(stats("n1", 1, {}))->payload;
  bus::BusMessage mismatched = message("n1", good);
  mismatched.subject = "stats.n2";
  EXPECT_FALSE(view_.receive(mismatched, t0_));
  bus::BusMessage noOrigin = message("", good);
  EXPECT_FALSE(view_.receive(noOrigin, t0_));
  bus::BusMessage dotted = message("n1", good);
  dotted.origin = "a.b";
  dotted.subject = "stats.a.b";
  EXPECT_FALSE(view_.receive(dotted, t0_));
  EXPECT_TRUE(view_.snapshot(t0_).nodes.empty());
}

TEST_F(ClusterStatsAggregation, a_malformed_report_leaves_the_nodes_last_good_one_in_place) {
  hear(stats("n1", 2, {{"a", 2}}), t0_);
  EXPECT_FALSE(view_.receive(message("n1", "{garbage"), t0_ + 100ms));
  const ClusterSnapshot snapshot = view_.snapshot(t0_ + 100ms);
  ASSERT_EQ(1u, snapshot.nodes.size());
  EXPECT_EQ(stats("n1", 2, {{"a", 2}}), snapshot.nodes[0].stats);
}

TEST_F(ClusterStatsAggregation, unknown_fields_are_ignored_so_newer_nodes_can_add_some) {
  EXPECT_TRUE(view_.receive(
      message("n1", R"({"connections":1,"tcp_connections":2,"rooms":{"a":1},"cpu":0.5})"), t0_));
  EXPECT_EQ(stats("n1", 1, {{"a", 1}}), view_.snapshot(t0_).nodes.at(0).stats);
}

TEST(ClusterStats, rejects_a_node_id_that_is_not_one_subject_token) {
  RecordingBus bus;
  const auto local = [] { return NodeStats{}; };
  EXPECT_THROW(ClusterStats(bus, "a.b", 1s, local), std::invalid_argument);
  EXPECT_THROW(ClusterStats(bus, "", 1s, local), std::invalid_argument);
  EXPECT_THROW(ClusterStats(bus, "a*", 1s, local), std::invalid_argument);
  EXPECT_NO_THROW(ClusterStats(bus, "host-1_x", 1s, local));
}

TEST(ClusterStats, publishes_its_own_stats_at_once_and_hears_them_back_through_the_bus) {
  RecordingBus bus;
  std::atomic<int> calls{0};
  ClusterStats cluster(bus, "me", 3600s, [&] {
    ++calls;
    return stats("ignored-by-the-publisher", 4, {{"a", 3}, {"b", 1}});
  });
  cluster.start();
  EXPECT_EQ(std::vector<std::string>{"stats.*"}, bus.patterns());
  ASSERT_EQ(1u, bus.waitForPublished(1)) << "the first report goes out at start, not after 1 h";
  const bus::BusMessagePtr report = bus.published().front();
  EXPECT_EQ("stats.me", report->subject);
  EXPECT_EQ("me", report->origin);

  EXPECT_TRUE(cluster.snapshot().nodes.empty()) << "only what comes back through the bus counts";
  bus.deliver(report);
  const ClusterSnapshot snapshot = cluster.snapshot();
  ASSERT_EQ(1u, snapshot.nodes.size());
  EXPECT_EQ(stats("me", 4, {{"a", 3}, {"b", 1}}), snapshot.nodes[0].stats);
  EXPECT_EQ(4, snapshot.totals.connections);
  cluster.stop();
  EXPECT_EQ(1, calls.load());
}

TEST(ClusterStats, publishes_again_every_interval) {
  RecordingBus bus;
  ClusterStats cluster(bus, "me", 1s, [] { return NodeStats{}; });
  cluster.start();
  EXPECT_EQ(2u, bus.waitForPublished(2, 5s));
  cluster.stop();
}

TEST(ClusterStats, stop_is_prompt_unsubscribes_and_ends_publishing) {
  RecordingBus bus;
  ClusterStats cluster(bus, "me", 3600s, [] { return NodeStats{}; });
  cluster.start();
  ASSERT_EQ(1u, bus.waitForPublished(1));
  const auto before = Clock::now();
  cluster.stop();
  EXPECT_LT(Clock::now() - before, 1s) << "stop waited for the interval";
  EXPECT_TRUE(bus.patterns().empty());
  EXPECT_EQ(1u, bus.published().size());
  cluster.stop();  // idempotent
}

TEST(ClusterStats, stop_without_start_is_a_no_op) {
  RecordingBus bus;
  ClusterStats cluster(bus, "me", 1s, [] { return NodeStats{}; });
  cluster.stop();
  EXPECT_TRUE(bus.published().empty());
}

}  // namespace
}  // namespace heimdallr::cluster
