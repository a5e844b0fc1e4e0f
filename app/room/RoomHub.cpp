#include "room/RoomHub.h"

#include <Poco/Logger.h>

#include <chrono>
#include <functional>

#include "room/RoomId.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::room {

namespace {
int64_t realtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

net::SharedBuffer encode(ws::Opcode opcode, std::string_view payload) {
  return net::makeSharedBuffer(ws::encodeFrame(opcode, payload));
}
}  // namespace

RoomHub::RoomHub(std::vector<net::IoLoop*> loops, bus::Bus& bus, std::string nodeId,
                 RoomDirectory& directory, metrics::NodeMetrics* metrics)
    : loops_(std::move(loops)),
      bus_(bus),
      nodeId_(std::move(nodeId)),
      directory_(directory),
      metrics_(metrics),
      perLoop_(loops_.size()) {}

RoomHub::~RoomHub() = default;

int RoomHub::homeOf(const std::string& roomId) const {
  return static_cast<int>(std::hash<std::string>{}(roomId) % loops_.size());
}

// Member's loop thread.
void RoomHub::join(RoomMember& member) {
  const int loop = member.loopIndex();
  perLoop_[loop].local.add(member);
  const int home = homeOf(member.roomId());
  loops_[home]->post(
      [this, home, roomId = member.roomId(), loop] { actorJoined(home, roomId, loop); });
}

// Member's loop thread.
void RoomHub::leave(RoomMember& member) {
  const int loop = member.loopIndex();
  perLoop_[loop].local.remove(member);
  const int home = homeOf(member.roomId());
  loops_[home]->post(
      [this, home, roomId = member.roomId(), loop] { actorLeft(home, roomId, loop); });
}

// Sender's loop thread. The frame is encoded here, once, and shared by every recipient.
void RoomHub::publish(const std::string& roomId, int loop, ws::Opcode opcode, std::string&& payload,
                      metrics::PublishSource source) {
  const int64_t originNs = realtimeNs();
  net::SharedBuffer frame = encode(opcode, payload);
  const int home = homeOf(roomId);
  loops_[home]->post([this, home, roomId, frame = std::move(frame), originNs] {
    actorDeliver(home, roomId, frame, originNs, Path::kLocal);
  });

  auto msg = std::make_shared<bus::BusMessage>();
  msg->subject = roomSubject(roomId);
  msg->origin = nodeId_;
  msg->payload = std::move(payload);
  msg->flags = opcode == ws::Opcode::kBinary ? bus::BusMessage::kFlagBinary : 0;
  msg->originTimeNs = originNs;
  bus_.publish(std::move(msg));
  if (metrics_) metrics_->loop(loop).published(source);
}

// Home loop thread.
void RoomHub::actorJoined(int home, const std::string& roomId, int memberLoop) {
  auto& slot = perLoop_[home].actors[roomId];
  if (!slot) slot = std::make_unique<RoomActor>(roomId, loops_.size());
  RoomActor& actor = *slot;
  if (actor.memberJoined(memberLoop) == RoomActor::Interest::kGained) {
    try {
      actor.setSubscription(bus_.subscribe(
          roomSubject(roomId),
          [this, roomId](const bus::BusMessagePtr& msg) { onBusMessage(msg, roomId); }));
    } catch (const std::exception& e) {
      // Only an invalid subject throws, and room ids are validated before joining.
      Poco::Logger::get("heimdallr.room")
          .error("subscribe room.%s: %s", roomId, std::string(e.what()));
    }
  }
  directory_.set(roomId, actor.members());
}

// Home loop thread.
void RoomHub::actorLeft(int home, const std::string& roomId, int memberLoop) {
  auto& actors = perLoop_[home].actors;
  auto it = actors.find(roomId);
  if (it == actors.end()) return;
  RoomActor& actor = *it->second;
  const bool lost = actor.memberLeft(memberLoop) == RoomActor::Interest::kLost;
  directory_.set(roomId, actor.members());
  if (lost) {
    if (actor.subscription() != 0) bus_.unsubscribe(actor.subscription());
    actors.erase(it);
  }
}

// Home loop thread: one task per loop with members, or a direct call for the home loop itself.
void RoomHub::actorDeliver(int home, const std::string& roomId, const net::SharedBuffer& frame,
                           int64_t originNs, Path path) {
  auto& actors = perLoop_[home].actors;
  auto it = actors.find(roomId);
  if (it == actors.end()) return;  // everyone left before the message arrived
  const RoomActor& actor = *it->second;
  if (metrics_) metrics_->loop(home).fanout.observe(actor.members());
  actor.forEachLoopWithMembers([&](int loop) {
    if (loop == home) {
      deliverLocal(loop, roomId, frame, originNs, path);
    } else {
      loops_[loop]->post([this, loop, roomId, frame, originNs, path] {
        deliverLocal(loop, roomId, frame, originNs, path);
      });
    }
  });
}

// Member loop thread. Latency is recorded once per loop hand-over, weighted by the recipients:
// per-recipient figures without per-recipient work.
void RoomHub::deliverLocal(int loop, const std::string& roomId, const net::SharedBuffer& frame,
                           int64_t originNs, Path path) {
  const size_t delivered = perLoop_[loop].local.deliver(roomId, frame);
  if (metrics_ == nullptr || delivered == 0) return;
  metrics::LoopMetrics& m = metrics_->loop(loop);
  m.messagesDelivered.add(delivered);
  const double seconds = static_cast<double>(realtimeNs() - originNs) / 1e9;
  (path == Path::kLocal ? m.latencyLocal : m.latencyBus).observe(seconds, delivered);
}

// Bus thread: drop our own messages (already delivered locally), encode once, hand to the actor.
void RoomHub::onBusMessage(const bus::BusMessagePtr& msg, const std::string& roomId) {
  if (msg->origin == nodeId_) return;
  const auto opcode =
      (msg->flags & bus::BusMessage::kFlagBinary) ? ws::Opcode::kBinary : ws::Opcode::kText;
  net::SharedBuffer frame = encode(opcode, msg->payload);
  const int home = homeOf(roomId);
  loops_[home]->post([this, home, roomId, frame = std::move(frame), originNs = msg->originTimeNs] {
    actorDeliver(home, roomId, frame, originNs, Path::kBus);
  });
}

}  // namespace heimdallr::room
