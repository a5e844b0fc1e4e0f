#include "history/RecoveryPlan.h"

#include <algorithm>

namespace heimdallr::history {

RecoveryPlan planRecovery(const StreamState& state, const std::optional<StreamPosition>& since,
                          uint64_t joinMessages) {
  RecoveryPlan plan;
  if (since) {
    // Everything after since.offset must still be there: the oldest kept message may be at most
    // the first one the client lacks. A position past the top is from another life of the stream.
    const bool possible = since->epoch == state.epoch && since->offset <= state.top &&
                          state.oldest <= since->offset + 1;
    if (!possible) return plan;
    plan.recovered = true;
    plan.first = since->offset + 1;
    plan.last = state.top;
    return plan;
  }
  if (joinMessages == 0 || state.top < state.oldest) return plan;
  plan.last = state.top;
  plan.first = std::max(state.oldest, state.top - std::min(joinMessages, state.top) + 1);
  return plan;
}

}  // namespace heimdallr::history
