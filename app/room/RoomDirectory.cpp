#include "room/RoomDirectory.h"

namespace heimdallr::room {

void RoomDirectory::set(const std::string& roomId, uint32_t members) {
  std::lock_guard lock(mutex_);
  if (members == 0) {
    rooms_.erase(roomId);
  } else {
    rooms_[roomId] = members;
  }
}

std::map<std::string, uint32_t> RoomDirectory::snapshot() const {
  std::lock_guard lock(mutex_);
  return rooms_;
}

size_t RoomDirectory::roomCount() const {
  std::lock_guard lock(mutex_);
  return rooms_.size();
}

}  // namespace heimdallr::room
