// A helper for plugins: the publish-latency histogram of BusCounters, recorded by the one thread
// that sees acknowledgements and read by any thread. Header-only.
#pragma once

#include <atomic>
#include <chrono>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::bus {

/// One writer (the plugin's own thread), any readers. observe() takes no lock.
class PublishLatency {
 public:
  static int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  /// Writer thread: a publish enqueued at `enqueuedNs` (nowNs() then) was acknowledged now.
  void observe(int64_t enqueuedNs) {
    const double seconds = static_cast<double>(nowNs() - enqueuedNs) / 1e9;
    size_t i = 0;
    while (i < kPublishLatencyBounds.size() && seconds > kPublishLatencyBounds[i]) ++i;
    buckets_[i].store(buckets_[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    sum_.store(sum_.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
  }

  /// Any thread.
  void fill(BusCounters& counters) const {
    for (size_t i = 0; i < buckets_.size(); ++i) {
      counters.publishLatencyBuckets[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    counters.publishLatencyCount = count_.load(std::memory_order_relaxed);
    counters.publishLatencySumSeconds = sum_.load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kPublishLatencyBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

}  // namespace heimdallr::bus
