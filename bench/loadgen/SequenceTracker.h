#pragma once

#include <cstdint>

namespace heimdallr::bench {

/// What one subscriber has seen of one publisher's sequence numbers: the next expected number and
/// a 64-message window below it, enough to tell a duplicate from a late (out-of-order) delivery.
/// Older than the window is counted as out of order, never as a duplicate.
/// 16 bytes. Not thread-safe: owned by the subscriber's connection.
class SequenceTracker {
 public:
  enum class Verdict : uint8_t { kInOrder, kOutOfOrder, kDuplicate };

  Verdict observe(uint64_t seq) {
    if (seq >= next_) {
      const uint64_t advance = seq + 1 - next_;
      window_ = advance >= 64 ? 0 : window_ << advance;
      window_ |= 1;  // bit i stands for seq next_ - 1 - i
      next_ = seq + 1;
      return Verdict::kInOrder;
    }
    const uint64_t distance = next_ - 1 - seq;
    if (distance >= 64) return Verdict::kOutOfOrder;
    const uint64_t bit = uint64_t{1} << distance;
    if (window_ & bit) return Verdict::kDuplicate;
    window_ |= bit;
    return Verdict::kOutOfOrder;
  }

 private:
  uint64_t next_ = 0;
  uint64_t window_ = 0;
};

}  // namespace heimdallr::bench
