#include "room/RoomActor.h"

namespace heimdallr::room {

RoomActor::RoomActor(std::string id, size_t loopCount) : id_(std::move(id)), perLoop_(loopCount) {}

RoomActor::Interest RoomActor::memberJoined(int loop) {
  ++perLoop_.at(static_cast<size_t>(loop));
  return ++members_ == 1 ? Interest::kGained : Interest::kUnchanged;
}

RoomActor::Interest RoomActor::memberLeft(int loop) {
  auto& count = perLoop_.at(static_cast<size_t>(loop));
  if (count == 0) return Interest::kUnchanged;  // a leave without a join: ignore, never underflow
  --count;
  return --members_ == 0 ? Interest::kLost : Interest::kUnchanged;
}

}  // namespace heimdallr::room
