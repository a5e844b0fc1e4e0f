#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace heimdallr::history {

/// One member's view of one room's stream, so that it sees every message once, in offset order:
/// while its join reads history, live messages are held; once history is delivered up to its
/// top, the held ones after it follow; from then on each live message is checked against the
/// last offset delivered. Not thread-safe: one per membership, on that member's loop.
template <typename Message>
class OffsetMerger {
 public:
  enum class Verdict {
    kDeliver,    // the next offset: deliver it
    kDuplicate,  // already delivered (or older): drop it
    kGap,        // offsets were skipped: lost messages; last() stays, hold() and read again
    kHeld,       // history is still being read: kept, released later
  };

  /// A live message. While holding, it is kept (duplicates by offset keep the first).
  Verdict admit(uint64_t offset, Message message) {
    if (holding_) {
      if (offset > last_) held_.emplace(offset, std::move(message));
      return Verdict::kHeld;
    }
    return judge(offset);
  }

  /// History was delivered up to `top` (inclusive). Returns the held messages that follow it,
  /// in order and contiguous. If they skip an offset, the rest is discarded and `gap` is set:
  /// the member must read history again from last().
  std::vector<std::pair<uint64_t, Message>> release(uint64_t top, bool& gap) {
    holding_ = false;
    gap = false;
    last_ = std::max(last_, top);
    std::vector<std::pair<uint64_t, Message>> out;
    for (auto& [offset, message] : held_) {
      if (offset <= last_) continue;
      if (offset != last_ + 1) {
        gap = true;
        break;
      }
      last_ = offset;
      out.emplace_back(offset, std::move(message));
    }
    held_.clear();
    return out;
  }

  /// Starts holding again (a resync reads history from last()).
  void hold() { holding_ = true; }

  bool holding() const { return holding_; }
  /// The offset of the last message delivered (or known delivered through history).
  uint64_t last() const { return last_; }

  /// A member that joined without history starts at `offset` (the stream's top at the join).
  explicit OffsetMerger(uint64_t last = 0, bool holding = true) : last_(last), holding_(holding) {}

 private:
  Verdict judge(uint64_t offset) {
    if (offset <= last_) return Verdict::kDuplicate;
    if (offset != last_ + 1) return Verdict::kGap;
    last_ = offset;
    return Verdict::kDeliver;
  }

  uint64_t last_;
  bool holding_;
  std::map<uint64_t, Message> held_;
};

}  // namespace heimdallr::history
