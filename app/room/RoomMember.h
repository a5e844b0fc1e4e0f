#pragma once

#include <cstddef>
#include <string>

#include "net/SharedBuffer.h"

namespace heimdallr::room {

/// A local member of a room as RoomHub sees it: a WebSocket session on some loop. Loop thread
/// only: every call happens on the member's own loop.
class RoomMember {
 public:
  virtual ~RoomMember() = default;
  virtual const std::string& roomId() const = 0;
  virtual int loopIndex() const = 0;
  /// Queues an encoded frame shared with the other members. Never throws; a member that cannot
  /// keep up closes itself. Returns whether the frame was queued.
  virtual bool deliver(const net::SharedBuffer& frame) = 0;

 private:
  friend class LocalRooms;
  size_t slot_ = 0;  // position in its LocalRooms list, for O(1) removal
};

}  // namespace heimdallr::room
