#include "metrics/NodeMetrics.h"

#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

#include "metrics/ProcessMetrics.h"

namespace heimdallr::metrics {

namespace {
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ClientMetric sample(double value, MetricType type, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

MetricFamily single(const char* name, const char* help, MetricType type, double value) {
  MetricFamily f{name, help, type, {}};
  f.metric.push_back(sample(value, type));
  return f;
}

/// Turns per-bucket counts into Prometheus's cumulative buckets.
template <size_t N>
ClientMetric histogram(const std::array<double, N>& bounds,
                       const std::array<uint64_t, N + 1>& counts, uint64_t count, double sum,
                       std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = count;
  m.histogram.sample_sum = sum;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < N; ++i) {
    cumulative += counts[i];
    m.histogram.bucket.push_back({cumulative, bounds[i]});
  }
  cumulative += counts[N];
  m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  return m;
}

template <size_t N, typename Select>
ClientMetric mergedHistogram(const std::vector<std::unique_ptr<LoopMetrics>>& loops,
                             const std::array<double, N>& bounds, Select select,
                             std::vector<ClientMetric::Label> labels = {}) {
  std::array<uint64_t, N + 1> counts{};
  uint64_t count = 0;
  double sum = 0;
  for (const auto& loop : loops) select(*loop).addTo(counts, count, sum);
  return histogram(bounds, counts, count, sum, std::move(labels));
}

template <typename Select>
double sum(const std::vector<std::unique_ptr<LoopMetrics>>& loops, Select select) {
  uint64_t total = 0;
  for (const auto& loop : loops) total += select(*loop).value();
  return static_cast<double>(total);
}

// One counter family with a `reason` label (or `label`): the sum over the loops of each cell of
// the array `select` picks, labelled with its name.
template <size_t N, typename Select>
MetricFamily byReason(const char* name, const char* help,
                      const std::vector<std::unique_ptr<LoopMetrics>>& loops,
                      const std::array<const char*, N>& reasons, Select select,
                      const char* label = "reason") {
  MetricFamily family{name, help, MetricType::Counter, {}};
  for (size_t r = 0; r < N; ++r) {
    family.metric.push_back(
        sample(sum(
                   loops, [&](const LoopMetrics& l) -> auto& { return select(l)[r]; }),
               MetricType::Counter, {{label, reasons[r]}}));
  }
  return family;
}
}  // namespace

NodeMetrics::NodeMetrics(size_t loopCount) {
  for (size_t i = 0; i < loopCount; ++i) loops_.push_back(std::make_unique<LoopMetrics>());
}

// Scrape thread. Reads every loop's single-writer cells without stopping the loops: each value is
// a consistent number, and the families are at most one loop pass apart.
std::vector<MetricFamily> NodeMetrics::Collect() const {
  const NodeSnapshot node = source_ ? source_() : NodeSnapshot{};
  std::vector<MetricFamily> out;

  out.push_back(single("heimdallr_connections", "Open WebSocket sessions on this node.",
                       MetricType::Gauge, node.connections));
  out.push_back(single("heimdallr_rooms", "Rooms with at least one member on this node.",
                       MetricType::Gauge, node.rooms));
  out.push_back(single("heimdallr_bus_up", "1 when the message bus is connected, else 0.",
                       MetricType::Gauge, node.busUp ? 1 : 0));
  out.push_back(single("heimdallr_bus_pending_bytes",
                       "Bytes of publishes the bus holds: queued, or sent and not yet acknowledged "
                       "by the backend (bounded by the plugin's pending limit).",
                       MetricType::Gauge, static_cast<double>(node.bus.pendingBytes)));
  out.push_back(single("heimdallr_send_queue_bytes",
                       "Bytes waiting in the outbound queues of all connections.",
                       MetricType::Gauge, static_cast<double>(node.sendQueueBytes)));

  out.push_back(single(
      "heimdallr_connections_opened_total", "WebSocket sessions opened.", MetricType::Counter,
      sum(
          loops_, [](const LoopMetrics& l) -> auto& { return l.connectionsOpened; })));
  out.push_back(byReason(
      "heimdallr_connections_closed_total", "WebSocket sessions closed, by reason.", loops_,
      kCloseReasonNames, [](const LoopMetrics& l) -> auto& { return l.connectionsClosed; }));
  out.push_back(single(
      "heimdallr_messages_received_total", "Messages received from clients.", MetricType::Counter,
      sum(
          loops_, [](const LoopMetrics& l) -> auto& { return l.messagesReceived; })));
  out.push_back(byReason(
      "heimdallr_messages_published_total",
      "Room messages handed to the bus, by source (a client, or the server API).", loops_,
      kPublishSourceNames, [](const LoopMetrics& l) -> auto& { return l.messagesPublished; },
      "source"));
  out.push_back(
      single("heimdallr_messages_delivered_total",
             "Frames queued to client connections (one per recipient).", MetricType::Counter,
             sum(
                 loops_, [](const LoopMetrics& l) -> auto& { return l.messagesDelivered; })));
  MetricFamily dropped = byReason(
      "heimdallr_messages_dropped_total", "Messages not delivered, by reason.", loops_,
      kDropReasonNames, [](const LoopMetrics& l) -> auto& { return l.messagesDropped; });
  dropped.metric.push_back(sample(static_cast<double>(node.bus.dropped), MetricType::Counter,
                                  {{"reason", "bus_backpressure"}}));
  out.push_back(std::move(dropped));
  out.push_back(byReason(
      "heimdallr_recoveries_total",
      "Protocol v2 joins with `since`, by whether every missed message could be handed over.",
      loops_, kRecoveryNames, [](const LoopMetrics& l) -> auto& { return l.recoveries; },
      "result"));
  out.push_back(single(
      "heimdallr_stream_messages_lost_total",
      "Numbered room messages this node never got, live or from the store (trimmed or expired "
      "before a hole could be filled): its members skipped them.",
      MetricType::Counter,
      sum(
          loops_, [](const LoopMetrics& l) -> auto& { return l.streamMessagesLost; })));
  out.push_back(byReason(
      "heimdallr_requests_refused_total",
      "HTTP requests and WebSocket upgrades refused by a limit, by reason.", loops_,
      kRefusalReasonNames, [](const LoopMetrics& l) -> auto& { return l.requestsRefused; }));
  out.push_back(single("heimdallr_bytes_sent_total", "Bytes written to client sockets.",
                       MetricType::Counter, static_cast<double>(node.bytesSent)));
  out.push_back(single("heimdallr_bytes_received_total", "Bytes read from client sockets.",
                       MetricType::Counter, static_cast<double>(node.bytesReceived)));
  out.push_back(single("heimdallr_bus_reconnects_total",
                       "Times the bus reconnected after losing its backend.", MetricType::Counter,
                       static_cast<double>(node.bus.reconnects)));

  MetricFamily latency{"heimdallr_delivery_latency_seconds",
                       "From a message's arrival at its origin node to its hand-over to a "
                       "recipient's connection on the delivering node, per recipient.",
                       MetricType::Histogram,
                       {}};
  latency.metric.push_back(mergedHistogram(
      loops_, kLatencyBounds, [](const LoopMetrics& l) -> auto& { return l.latencyLocal; },
      {{"path", "local"}}));
  latency.metric.push_back(mergedHistogram(
      loops_, kLatencyBounds, [](const LoopMetrics& l) -> auto& { return l.latencyBus; },
      {{"path", "bus"}}));
  out.push_back(std::move(latency));
  MetricFamily fanout{"heimdallr_fanout_recipients",
                      "Recipients on this node per delivered room message.",
                      MetricType::Histogram,
                      {}};
  fanout.metric.push_back(mergedHistogram(
      loops_, kFanoutBounds, [](const LoopMetrics& l) -> auto& { return l.fanout; }));
  out.push_back(std::move(fanout));
  MetricFamily publish{"heimdallr_bus_publish_latency_seconds",
                       "From a publish being queued to the bus backend acknowledging it.",
                       MetricType::Histogram,
                       {}};
  publish.metric.push_back(histogram(bus::kPublishLatencyBounds, node.bus.publishLatencyBuckets,
                                     node.bus.publishLatencyCount,
                                     node.bus.publishLatencySumSeconds));
  out.push_back(std::move(publish));

  for (auto& f : collectProcessMetrics()) out.push_back(std::move(f));
  return out;
}

std::string NodeMetrics::scrape() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

}  // namespace heimdallr::metrics
