#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace heimdallr::room {

/// This node's rooms and their member counts, for /stats. Thread-safe: the room actors write it
/// on membership changes only (never per message), and HTTP handlers read snapshots.
class RoomDirectory {
 public:
  void set(const std::string& roomId, uint32_t members);  // 0 removes the room
  std::map<std::string, uint32_t> snapshot() const;
  uint32_t members(const std::string& roomId) const;  // 0 for a room with no member here
  size_t roomCount() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, uint32_t> rooms_;
};

}  // namespace heimdallr::room
