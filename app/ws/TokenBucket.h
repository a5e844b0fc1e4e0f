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
      milliTokens_ = refilled(nowMs);
      lastMs_ = nowMs;
    }
    if (milliTokens_ < kUnit) return false;
    milliTokens_ -= kUnit;
    return true;
  }

  /// Milliseconds from `nowMs` until the bucket holds `tokens` (capped at the burst), or 0 when it
  /// already does or the bucket is disabled.
  uint64_t msUntil(uint64_t tokens, uint64_t nowMs) const {
    if (rate_ == 0) return 0;
    const uint64_t have = refilled(nowMs);
    const uint64_t want = std::min(capacity_, tokens * kUnit);
    return want <= have ? 0 : (want - have + rate_ - 1) / rate_;  // rounded up
  }

 private:
  static constexpr uint64_t kUnit = 1000;

  /// The thousandths of a token the bucket holds at `nowMs` (not before lastMs_). rate_ tokens a
  /// second is rate_ thousandths a millisecond; a gap long enough to fill the bucket is not
  /// multiplied, so it cannot overflow.
  uint64_t refilled(uint64_t nowMs) const {
    const uint64_t elapsed = nowMs > lastMs_ ? nowMs - lastMs_ : 0;
    if (elapsed >= capacity_ / rate_ + 1) return capacity_;
    return std::min(capacity_, milliTokens_ + elapsed * rate_);
  }
  uint64_t rate_;
  uint64_t capacity_;
  uint64_t milliTokens_;
  uint64_t lastMs_;
};

}  // namespace heimdallr::ws
