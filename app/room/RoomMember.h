#pragma once

#include <cstddef>
#include <string>

#include "room/RoomMessage.h"

namespace heimdallr::room {

/// A local member of a room as RoomHub sees it: one room membership of a WebSocket session on
/// some loop (a raw session has one, a v2 session one per joined room). Loop thread only: every
/// call happens on the member's own loop.
class RoomMember {
 public:
  virtual ~RoomMember() = default;
  virtual const std::string& roomId() const = 0;
  virtual int loopIndex() const = 0;
  virtual MemberFormat format() const { return MemberFormat::kRaw; }
  /// Queues the member's frame of `msg` (shared with the other members of its format). Never
  /// throws; a member that cannot keep up closes itself. Returns whether a frame was queued.
  virtual bool deliver(const RoomMessage& msg) = 0;

 private:
  friend class LocalRooms;
  size_t slot_ = 0;  // position in its LocalRooms list, for O(1) removal
};

}  // namespace heimdallr::room
