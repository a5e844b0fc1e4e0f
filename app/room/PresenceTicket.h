#pragma once

#include <cstdint>
#include <string>

#include "config/Config.h"
#include "heimdallr/bus/Storage.h"

namespace heimdallr::room {

class RoomHub;

/// One member's entry in its room's presence set (rooms with `presence.enabled`), raw and v2
/// members alike: added when made, refreshed from the loop tick a few times per `presence.ttl_s`
/// (so a node that dies drops out within the TTL), removed when destroyed. With
/// `presence.join_leave` the room hears a join and a leave event. Loop thread only: made, ticked
/// and destroyed on the member's loop.
class PresenceTicket {
 public:
  PresenceTicket(RoomHub& hub, std::string roomId, int loop, bus::PresenceMember member,
                 const config::RoomPolicy& policy, uint64_t nowMs);
  ~PresenceTicket();
  PresenceTicket(const PresenceTicket&) = delete;
  PresenceTicket& operator=(const PresenceTicket&) = delete;

  void onTick(uint64_t nowMs);
  const bus::PresenceMember& member() const { return member_; }

 private:
  void announce(bus::MessageKind kind);

  RoomHub& hub_;
  const std::string roomId_;
  const std::string subject_;
  const int loop_;
  const bus::PresenceMember member_;
  const config::RoomPolicy& policy_;
  uint64_t refreshAtMs_;
};

}  // namespace heimdallr::room
