#include "ws/RawRelay.h"

#include <algorithm>

#include "ws/CloseCode.h"
#include "ws/WsSession.h"

namespace heimdallr::ws {

RawRelay::RawRelay(WsSession& session, std::string roomId, bool mayPublish)
    : session_(session),
      roomId_(std::move(roomId)),
      policy_(session.context().hub.policyFor(roomId_)),
      rateLimit_(session.context().config.limits.messagesPerSecond,
                 session.context().config.limits.burst, session.connection().loop().nowMs()),
      mayPublish_(mayPublish) {
  session_.context().hub.join(*this);
  joined_ = true;
  if (policy_.presence) {
    clientId_ = session_.clientId();
    const auth::SessionIdentity* identity = session_.identity();
    presence_ = std::make_unique<room::PresenceTicket>(
        session_.context().hub, roomId_, loopIndex(),
        bus::PresenceMember{clientId_, identity ? identity->user : std::string(),
                            identity ? identity->infoJson : std::string(),
                            session_.context().nodeId},
        policy_, session_.connection().loop().nowMs());
  }
}

int RawRelay::loopIndex() const { return session_.connection().loop().index(); }

bool RawRelay::deliver(const room::RoomMessage& msg) {
  return msg.rawFrame && session_.deliver(msg.rawFrame);
}

void RawRelay::onTick(uint64_t nowMs) {
  if (presence_) presence_->onTick(nowMs);
}

void RawRelay::onMessage(Opcode opcode, std::string&& payload) {
  server::ServerContext& context = session_.context();
  metrics::LoopMetrics* loopMetrics = session_.metrics();
  if (!mayPublish_) {
    // A read-only member (the token's `pub`): the raw protocol cannot answer a message, so the
    // session is closed and the message counted, never dropped in silence.
    if (loopMetrics) loopMetrics->dropped(metrics::DropReason::kForbidden);
    session_.closeWith(close_code::kForbidden, "publishing in this room is not allowed");
    return;
  }
  net::Connection& connection = session_.connection();
  const uint64_t nowMs = connection.loop().nowMs();
  if (!rateLimit_.tryTake(nowMs)) {
    if (context.config.limits.rateLimitAction == "close") {
      session_.closeWith(close_code::kRateLimited, "rate limit exceeded");
      return;
    }
    if (loopMetrics) loopMetrics->dropped(metrics::DropReason::kRateLimited);
    // Stop reading until a tenth of a second's tokens are back. What this read brought is dropped
    // here; what the flooder sends meanwhile waits in the kernel, TCP stalls its sender, and the
    // loop spends no time on it.
    const uint64_t tenthOfASecond =
        std::max<uint64_t>(1, context.config.limits.messagesPerSecond / 10);
    connection.pauseReading(rateLimit_.msUntil(tenthOfASecond, nowMs));
    return;
  }
  if (clientId_.empty()) clientId_ = session_.clientId();
  const auth::SessionIdentity* identity = session_.identity();
  static const std::string kAnonymous;
  // In a room with history the store numbers it; a refusal cannot be answered in this
  // protocol, and RoomHub counts it.
  context.hub.publish(*this, policy_, opcode, std::move(payload), clientId_,
                      identity ? identity->user : kAnonymous);
}

// End of a loop iteration, outside any fan-out: safe to leave the room's member list.
void RawRelay::onClosing() {
  if (!joined_) return;
  joined_ = false;
  presence_.reset();
  session_.context().hub.leave(*this);
}

}  // namespace heimdallr::ws
