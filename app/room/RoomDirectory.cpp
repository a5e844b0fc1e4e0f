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

uint32_t RoomDirectory::members(const std::string& roomId) const {
  std::lock_guard lock(mutex_);
  const auto it = rooms_.find(roomId);
  return it == rooms_.end() ? 0 : it->second;
}

}  // namespace heimdallr::room
