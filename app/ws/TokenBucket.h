#pragma once

#include <algorithm>
#include <cstdint>

namespace heimdallr::ws {

/// A token bucket for limits.messages_per_second / limits.burst: `ratePerSecond` tokens a second,
/// at most `burst` saved up, starting full. Integer arithmetic in thousandths of a token, so a
/// rate of 1/s refills exactly 1 token per 1000 ms. Not thread-safe: one per session, used on its
/// loop thread with the loop's millisecond clock.
class TokenBucket {
 public:
  /// A rate of 0 disables the bucket: tryTake() always succeeds.
  TokenBucket(uint64_t ratePerSecond, uint64_t burst, uint64_t nowMs)
      : rate_(ratePerSecond), capacity_(burst * kUnit), milliTokens_(capacity_), lastMs_(nowMs) {}

  /// Takes one token if there is one.
  bool tryTake(uint64_t nowMs) {
    if (rate_ == 0) return true;
    if (nowMs > lastMs_) {
      // rate_ tokens per second is rate_ thousandths per millisecond.
      const uint64_t refill = (nowMs - lastMs_) * rate_;
      milliTokens_ = std::min(capacity_, milliTokens_ + std::min(refill, capacity_));
      lastMs_ = nowMs;
    }
    if (milliTokens_ < kUnit) return false;
    milliTokens_ -= kUnit;
    return true;
  }

 private:
  static constexpr uint64_t kUnit = 1000;
  uint64_t rate_;
  uint64_t capacity_;
  uint64_t milliTokens_;
  uint64_t lastMs_;
};

}  // namespace heimdallr::ws
