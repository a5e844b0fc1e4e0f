#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "heimdallr/bus/Bus.h"
#include "metrics/LoopMetrics.h"

namespace heimdallr::metrics {

/// Gauges and totals owned elsewhere, read at scrape time.
struct NodeSnapshot {
  double connections = 0;  // open WebSocket sessions
  double rooms = 0;        // rooms with members on this node
  bool busUp = false;
  uint64_t bytesReceived = 0;
  uint64_t bytesSent = 0;
  uint64_t sendQueueBytes = 0;
  bus::BusCounters bus;
};

/// Every heimdallr_* family plus the process_* ones, built on prometheus-cpp's data model and
/// text serializer. Hot-path recording goes to per-loop LoopMetrics (one writer each), merged
/// here at scrape time. Thread-safe: loop(i) is used by loop i only; scrape() by any thread.
class NodeMetrics : public prometheus::Collectable {
 public:
  using SnapshotSource = std::function<NodeSnapshot()>;

  explicit NodeMetrics(size_t loopCount);

  LoopMetrics& loop(int index) { return *loops_[static_cast<size_t>(index)]; }
  /// Set once at start-up, before the first scrape.
  void setSnapshotSource(SnapshotSource source) { source_ = std::move(source); }

  std::vector<prometheus::MetricFamily> Collect() const override;
  /// The Prometheus text exposition format (version 0.0.4).
  std::string scrape() const;

 private:
  std::vector<std::unique_ptr<LoopMetrics>> loops_;
  SnapshotSource source_;
};

}  // namespace heimdallr::metrics
