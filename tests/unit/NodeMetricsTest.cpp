#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <thread>

#include "metrics/NodeMetrics.h"

namespace heimdallr::metrics {

namespace {
const prometheus::MetricFamily& family(const std::vector<prometheus::MetricFamily>& all,
                                       const std::string& name) {
  for (const auto& f : all) {
    if (f.name == name) return f;
  }
  throw std::runtime_error("no family " + name);
}
}  // namespace

TEST(SingleWriterHistogram, puts_each_value_in_the_first_bucket_whose_bound_it_does_not_exceed) {
  static constexpr std::array<double, 3> kBounds = {1, 10, 100};
  SingleWriterHistogram<3> h(kBounds);
  h.observe(0.5);
  h.observe(1);  // on the bound: that bucket (le="1")
  h.observe(50, 3);
  h.observe(1000);  // +Inf
  std::array<uint64_t, 4> buckets{};
  uint64_t count = 0;
  double sum = 0;
  h.addTo(buckets, count, sum);
  EXPECT_EQ((std::array<uint64_t, 4>{2, 0, 3, 1}), buckets);
  EXPECT_EQ(6u, count);
  EXPECT_DOUBLE_EQ(0.5 + 1 + 150 + 1000, sum);
}

TEST(NodeMetrics, merges_every_loops_counters_and_histograms_at_scrape_time) {
  NodeMetrics metrics(3);
  metrics.loop(0).messagesDelivered.add(5);
  metrics.loop(2).messagesDelivered.add(7);
  metrics.loop(1).closed(CloseReason::kSlowConsumer);
  metrics.loop(0).fanout.observe(3);
  metrics.loop(2).fanout.observe(3000);
  metrics.loop(1).latencyBus.observe(0.002, 4);
  const auto all = metrics.Collect();

  EXPECT_EQ(12, family(all, "heimdallr_messages_delivered_total").metric.at(0).counter.value);
  for (const auto& m : family(all, "heimdallr_connections_closed_total").metric) {
    EXPECT_EQ(m.label.at(0).value == "slow_consumer" ? 1 : 0, m.counter.value)
        << m.label.at(0).value;
  }
  const auto& fanout = family(all, "heimdallr_fanout_recipients").metric.at(0).histogram;
  EXPECT_EQ(2u, fanout.sample_count);
  // Cumulative buckets, ending with +Inf holding every sample.
  EXPECT_EQ(1u, fanout.bucket.at(2).cumulative_count);  // le=5
  EXPECT_EQ(std::numeric_limits<double>::infinity(), fanout.bucket.back().upper_bound);
  EXPECT_EQ(2u, fanout.bucket.back().cumulative_count);
  for (const auto& m : family(all, "heimdallr_delivery_latency_seconds").metric) {
    EXPECT_EQ(m.label.at(0).value == "bus" ? 4u : 0u, m.histogram.sample_count);
  }
}

TEST(NodeMetrics, takes_gauges_and_bus_counters_from_the_snapshot_source) {
  NodeMetrics metrics(1);
  metrics.setSnapshotSource([] {
    NodeSnapshot s;
    s.connections = 42;
    s.busUp = true;
    s.bytesSent = 1000;
    s.bus.dropped = 9;
    s.bus.reconnects = 2;
    s.bus.publishLatencyBuckets[0] = 5;
    s.bus.publishLatencyCount = 5;
    return s;
  });
  const auto all = metrics.Collect();
  EXPECT_EQ(42, family(all, "heimdallr_connections").metric.at(0).gauge.value);
  EXPECT_EQ(1, family(all, "heimdallr_bus_up").metric.at(0).gauge.value);
  EXPECT_EQ(1000, family(all, "heimdallr_bytes_sent_total").metric.at(0).counter.value);
  EXPECT_EQ(2, family(all, "heimdallr_bus_reconnects_total").metric.at(0).counter.value);
  bool sawBackpressure = false;
  for (const auto& m : family(all, "heimdallr_messages_dropped_total").metric) {
    if (m.label.at(0).value == "bus_backpressure") {
      sawBackpressure = true;
      EXPECT_EQ(9, m.counter.value);
    }
  }
  EXPECT_TRUE(sawBackpressure);
  EXPECT_EQ(
      5u, family(all, "heimdallr_bus_publish_latency_seconds").metric.at(0).histogram.sample_count);
}

TEST(NodeMetrics, every_family_has_help_and_the_process_metrics_are_there) {
  NodeMetrics metrics(1);
  std::set<std::string> names;
  for (const auto& f : metrics.Collect()) {
    EXPECT_FALSE(f.help.empty()) << f.name;
    names.insert(f.name);
  }
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_threads"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
}

TEST(NodeMetrics, a_scrape_while_a_loop_records_sees_monotonic_counts) {
  NodeMetrics metrics(1);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i) metrics.loop(0).messagesDelivered.add();
    done = true;
  });
  double last = 0;
  while (!done) {
    const auto all = metrics.Collect();
    const double now = family(all, "heimdallr_messages_delivered_total").metric.at(0).counter.value;
    EXPECT_GE(now, last);
    last = now;
  }
  writer.join();
  EXPECT_EQ(
      200000,
      family(metrics.Collect(), "heimdallr_messages_delivered_total").metric.at(0).counter.value);
}

}  // namespace heimdallr::metrics
