#pragma once

#include <string>

#include "room/RoomMember.h"
#include "ws/MessageHandler.h"
#include "ws/TokenBucket.h"

namespace heimdallr::ws {

class WsSession;

/// The ancestor's protocol (ws://host/{room}): the session is a member of the one room in its
/// URL, every message it sends goes to that room as it came, and every message of the room comes
/// to it as the shared frame RoomHub encoded once. It cannot answer a message, so a refusal
/// closes the session (4003 outside `pub`, 4029 for the rate limit with rate_limit_action close).
/// Loop thread only.
class RawRelay : public MessageHandler, public room::RoomMember {
 public:
  /// Joins `roomId` at once. `mayPublish`: the token's `pub` covers the room (always with auth
  /// off).
  RawRelay(WsSession& session, std::string roomId, bool mayPublish);

  // MessageHandler
  void onMessage(Opcode opcode, std::string&& payload) override;
  void onClosing() override;

  // room::RoomMember
  const std::string& roomId() const override { return roomId_; }
  int loopIndex() const override;
  bool deliver(const net::SharedBuffer& frame) override;

 private:
  WsSession& session_;
  const std::string roomId_;
  TokenBucket rateLimit_;
  bool joined_ = false;
  const bool mayPublish_;
};

}  // namespace heimdallr::ws
