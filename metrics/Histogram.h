#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace heimdallr::metrics {

/// A fixed-bucket histogram with ONE writer thread and any number of readers (the scrape).
/// observe() is a few relaxed loads and stores: no lock, no allocation, no read-modify-write
/// instruction, which is why each I/O loop owns its own and the scrape merges them.
template <size_t N>
class SingleWriterHistogram {
 public:
  using Bounds = std::array<double, N>;  // upper bounds, ascending; +Inf is implicit

  explicit SingleWriterHistogram(const Bounds& bounds) : bounds_(bounds) {}

  /// Writer thread only. `weight` observations of `value` at once (a fan-out to n members).
  void observe(double value, uint64_t weight = 1) {
    size_t i = 0;
    while (i < N && value > bounds_[i]) ++i;
    bump(counts_[i], weight);
    count_.store(count_.load(std::memory_order_relaxed) + weight, std::memory_order_relaxed);
    sum_.store(sum_.load(std::memory_order_relaxed) + value * static_cast<double>(weight),
               std::memory_order_relaxed);
  }

  /// Any thread: adds this histogram's (non-cumulative) bucket counts, count and sum to `into`.
  void addTo(std::array<uint64_t, N + 1>& buckets, uint64_t& count, double& sum) const {
    for (size_t i = 0; i <= N; ++i) buckets[i] += counts_[i].load(std::memory_order_relaxed);
    count += count_.load(std::memory_order_relaxed);
    sum += sum_.load(std::memory_order_relaxed);
  }

  const Bounds& bounds() const { return bounds_; }

 private:
  static void bump(std::atomic<uint64_t>& cell, uint64_t by) {
    cell.store(cell.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  const Bounds& bounds_;
  std::array<std::atomic<uint64_t>, N + 1> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

/// A counter with one writer thread: add() is a relaxed load and store.
class SingleWriterCounter {
 public:
  void add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace heimdallr::metrics
