#pragma once

#include <cstdint>
#include <optional>

#include "history/StreamPosition.h"

namespace heimdallr::history {

/// Which messages a join hands over, decided from the stream's state alone. Plain data.
struct RecoveryPlan {
  /// The client asked for recovery (`since`) and gets every message after its position. False
  /// when it did not ask, or when it cannot have them all: another epoch, a position the stream
  /// never reached, or messages already dropped from history. There is no partial recovery.
  bool recovered = false;
  /// The offsets to read, inclusive; none when first > last.
  uint64_t first = 1;
  uint64_t last = 0;
  uint64_t count() const { return last >= first ? last - first + 1 : 0; }
};

/// With `since`: all of (since.offset, state.top] when recovery is possible, else nothing. Without
/// it: the newest `joinMessages` messages still kept (history.join_messages). A pure function.
RecoveryPlan planRecovery(const StreamState& state, const std::optional<StreamPosition>& since,
                          uint64_t joinMessages);

}  // namespace heimdallr::history
