#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "room/RoomMember.h"

namespace heimdallr::room {

/// One loop's members per room. Not thread-safe: each loop has its own and touches it only on its
/// thread, which is why fan-out to local members needs no lock.
class LocalRooms {
 public:
  /// Returns the room's member count on this loop after the change.
  size_t add(RoomMember& member);
  size_t remove(RoomMember& member);

  /// Calls member.deliver(msg) for each local member of `roomId`; returns how many queued it.
  /// Members must not join or leave from inside deliver() (closing is deferred by the loop).
  size_t deliver(const std::string& roomId, const RoomMessage& msg);

  size_t roomCount() const { return rooms_.size(); }

 private:
  std::unordered_map<std::string, std::vector<RoomMember*>> rooms_;
};

}  // namespace heimdallr::room
