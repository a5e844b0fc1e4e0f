#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace heimdallr::history {

/// One view of one room's stream (a member's, or a node's), so that it sees every message once,
/// in offset order. Live messages are admitted one by one. While the stream is read from the
/// store (a join's history, or the messages behind a gap) live ones are held; the read is then
/// handed to catchUp(), which returns what to deliver: the read's messages after last(), then
/// the held ones that follow without a hole. Not thread-safe: one per view, on one thread.
template <typename Message>
class OffsetMerger {
 public:
  enum class Verdict {
    kDeliver,    // the next offset: deliver it
    kDuplicate,  // already delivered (or older): drop it
    kGap,        // offsets were skipped: the message is held, and so is what follows; read the
                 // store after last() and hand the result to catchUp()
    kHeld,       // a read is pending: kept, released by catchUp()
  };

  /// Starts after `last` (0: the stream's beginning). `holding`: a read is pending.
  explicit OffsetMerger(uint64_t last = 0, bool holding = true) : last_(last), holding_(holding) {}

  /// A live message. Held ones are kept by offset (the first copy of a duplicate wins).
  Verdict admit(uint64_t offset, Message message) {
    if (offset <= last_) return Verdict::kDuplicate;
    if (!holding_ && offset == last_ + 1) {
      last_ = offset;
      return Verdict::kDeliver;
    }
    held_.emplace(offset, std::move(message));
    if (holding_) return Verdict::kHeld;
    holding_ = true;
    return Verdict::kGap;
  }

  /// A read of the store arrived: `stored` in offset order (those not after last() are ignored),
  /// `top` the newest offset the store had (every message it kept after last(), not a page of
  /// them). Returns, in order, the messages to deliver. What the
  /// store no longer keeps is skipped and counted in `lost` (the view cannot have it any more).
  /// `readAgain` is set when held messages still do not follow on: read after last() again.
  std::vector<Message> catchUp(std::vector<std::pair<uint64_t, Message>> stored, uint64_t top,
                               uint64_t& lost, bool& readAgain) {
    std::vector<Message> out;
    lost = 0;
    for (auto& [offset, message] : stored) {
      if (offset <= last_) continue;
      if (offset != last_ + 1) lost += offset - last_ - 1;  // trimmed while we read
      last_ = offset;
      out.push_back(std::move(message));
    }
    // The store had messages up to top that it did not return: it no longer keeps them
    // (expired or trimmed). `stored` must be all it keeps after last(), not a page of it.
    const uint64_t reach = held_.empty() ? top : std::min(top, held_.begin()->first - 1);
    if (reach > last_) {
      lost += reach - last_;
      last_ = reach;
    }
    holding_ = false;
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->first <= last_) {
        it = held_.erase(it);
      } else if (it->first == last_ + 1) {
        last_ = it->first;
        out.push_back(std::move(it->second));
        it = held_.erase(it);
      } else {
        break;
      }
    }
    readAgain = !held_.empty();
    holding_ = readAgain;
    return out;
  }

  /// Gives up on everything up to `offset` (a stream that started again, or messages known lost).
  void skipTo(uint64_t offset) { last_ = std::max(last_, offset); }

  bool holding() const { return holding_; }
  /// The offset of the last message delivered (or known delivered or lost).
  uint64_t last() const { return last_; }
  size_t heldCount() const { return held_.size(); }

 private:
  uint64_t last_;
  bool holding_;
  std::map<uint64_t, Message> held_;
};

}  // namespace heimdallr::history
