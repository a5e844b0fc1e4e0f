#include "room/PresenceTicket.h"

#include "room/RoomFrames.h"
#include "room/RoomHub.h"
#include "room/RoomId.h"

namespace heimdallr::room {

namespace {
// Three refreshes per TTL: one lost refresh does not drop a live member.
uint64_t refreshIntervalMs(const config::RoomPolicy& policy) {
  return static_cast<uint64_t>(policy.presenceTtl.count()) * 1000 / 3;
}
}  // namespace

PresenceTicket::PresenceTicket(RoomHub& hub, std::string roomId, int loop,
                               bus::PresenceMember member, const config::RoomPolicy& policy,
                               uint64_t nowMs)
    : hub_(hub),
      roomId_(std::move(roomId)),
      subject_(roomSubject(roomId_)),
      loop_(loop),
      member_(std::move(member)),
      policy_(policy),
      refreshAtMs_(nowMs + refreshIntervalMs(policy)) {
  hub_.storage()->presenceSet(subject_, member_,
                              static_cast<uint32_t>(policy_.presenceTtl.count()));
  if (policy_.joinLeave) announce(bus::MessageKind::kJoin);
}

PresenceTicket::~PresenceTicket() {
  hub_.storage()->presenceRemove(subject_, member_.client);
  if (policy_.joinLeave) announce(bus::MessageKind::kLeave);
}

void PresenceTicket::onTick(uint64_t nowMs) {
  if (nowMs < refreshAtMs_) return;
  refreshAtMs_ = nowMs + refreshIntervalMs(policy_);
  hub_.storage()->presenceSet(subject_, member_,
                              static_cast<uint32_t>(policy_.presenceTtl.count()));
}

// Join and leave events travel like messages (never stored): raw members do not see them.
void PresenceTicket::announce(bus::MessageKind kind) {
  bus::BusMessage event;
  event.kind = kind;
  event.senderClient = member_.client;
  event.senderUser = member_.user;
  appendMemberJson(event.payload, member_);
  hub_.publish(roomId_, loop_, std::move(event), metrics::PublishSource::kClient);
}

}  // namespace heimdallr::room
