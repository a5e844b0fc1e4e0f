#include "room/RoomActor.h"

namespace heimdallr::room {

RoomActor::RoomActor(std::string id, size_t loopCount, const config::RoomPolicy& policy)
    : id_(std::move(id)),
      perLoop_(loopCount),
      policy_(policy),
      stream_(policy.keepsHistory() ? std::make_unique<StreamView>() : nullptr) {}

RoomActor::Interest RoomActor::memberJoined(int loop, MemberFormat format) {
  ++perLoop_.at(static_cast<size_t>(loop));
  if (format == MemberFormat::kV2) ++v2Members_;
  return ++members_ == 1 ? Interest::kGained : Interest::kUnchanged;
}

RoomActor::Interest RoomActor::memberLeft(int loop, MemberFormat format) {
  auto& count = perLoop_.at(static_cast<size_t>(loop));
  if (count == 0) return Interest::kUnchanged;  // a leave without a join: ignore, never underflow
  --count;
  if (format == MemberFormat::kV2 && v2Members_ > 0) --v2Members_;
  return --members_ == 0 ? Interest::kLost : Interest::kUnchanged;
}

}  // namespace heimdallr::room
