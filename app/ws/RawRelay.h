#pragma once

#include <memory>
#include <string>

#include "config/Config.h"
#include "room/PresenceTicket.h"
#include "room/RoomMember.h"
#include "ws/MessageHandler.h"
#include "ws/TokenBucket.h"

namespace heimdallr::ws {

class WsSession;

/// The ancestor's protocol (ws://host/{room}): the session is a member of the one room in its
/// URL, every message it sends goes to that room as it came, and every message of the room comes
/// to it as the shared frame RoomHub encoded once (a v2 publication as the JSON text of its data).
/// It cannot answer a message, so a refusal closes the session (4003 outside `pub`, 4029 for the
/// rate limit with rate_limit_action close); a message the store refuses in a room with history
/// is counted (dropped, bus_down). In a room with presence it is a member like any other. Loop
/// thread only.
class RawRelay : public MessageHandler, public room::RoomMember {
 public:
  /// Joins `roomId` at once. `mayPublish`: the token's `pub` covers the room (always with auth
  /// off).
  RawRelay(WsSession& session, std::string roomId, bool mayPublish);

  // MessageHandler
  void onMessage(Opcode opcode, std::string&& payload) override;
  void onClosing() override;
  void onTick(uint64_t nowMs) override;

  // room::RoomMember
  const std::string& roomId() const override { return roomId_; }
  int loopIndex() const override;
  // Fan-out hot path: one shared frame, no copy, no lock. Nothing for presence events.
  bool deliver(const room::RoomMessage& msg) override;

 private:
  WsSession& session_;
  const std::string roomId_;
  const config::RoomPolicy& policy_;
  TokenBucket rateLimit_;
  bool joined_ = false;
  const bool mayPublish_;
  std::string clientId_;                            // made at the first publish or presence
  std::unique_ptr<room::PresenceTicket> presence_;  // rooms with presence only
};

}  // namespace heimdallr::ws
