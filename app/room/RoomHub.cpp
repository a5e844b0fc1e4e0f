#include "room/RoomHub.h"

#include <Poco/Logger.h>

#include <chrono>
#include <functional>

#include "room/RoomFrames.h"
#include "room/RoomId.h"

namespace heimdallr::room {

namespace {
int64_t realtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Poco::Logger& logger() { return Poco::Logger::get("heimdallr.room"); }

bus::StreamLimits limitsOf(const config::RoomPolicy& policy) {
  return {policy.historySize, static_cast<uint32_t>(policy.historyTtl.count()),
          static_cast<uint32_t>(std::max(policy.historyMetaTtl, policy.historyTtl).count())};
}
}  // namespace

RoomHub::RoomHub(std::vector<net::IoLoop*> loops, bus::Bus& bus, std::string nodeId,
                 RoomDirectory& directory, metrics::NodeMetrics* metrics,
                 const config::RoomsConfig& rooms)
    : loops_(std::move(loops)),
      bus_(bus),
      storage_(bus.storage()),
      nodeId_(std::move(nodeId)),
      directory_(directory),
      metrics_(metrics),
      rooms_(rooms),
      perLoop_(loops_.size()) {}

RoomHub::~RoomHub() = default;

int RoomHub::homeOf(const std::string& roomId) const {
  return static_cast<int>(std::hash<std::string>{}(roomId) % loops_.size());
}

// Member's loop thread.
void RoomHub::join(RoomMember& member, const bus::ReadRequest* read, ReadDone onRead) {
  const int loop = member.loopIndex();
  perLoop_[loop].local.add(member);
  const int home = homeOf(member.roomId());
  std::function<void()> readTask;
  if (read != nullptr && storage_ != nullptr) {
    readTask = [this, loop, subject = roomSubject(member.roomId()), request = *read,
                onRead = std::move(onRead)]() mutable {
      storage_->read(subject, request, onLoop(loop, std::move(onRead)));
    };
  }
  loops_[home]->post([this, home, roomId = member.roomId(), loop, format = member.format(),
                      readTask = std::move(readTask)] {
    actorJoined(home, roomId, loop, format);
    if (readTask) readTask();  // after the member counts at home: nothing falls between
  });
}

// Member's loop thread.
void RoomHub::leave(RoomMember& member) {
  const int loop = member.loopIndex();
  perLoop_[loop].local.remove(member);
  const int home = homeOf(member.roomId());
  loops_[home]->post([this, home, roomId = member.roomId(), loop, format = member.format()] {
    actorLeft(home, roomId, loop, format);
  });
}

// Sender's loop thread: the raw protocol's hot path.
void RoomHub::publish(RoomMember& sender, const config::RoomPolicy& policy, ws::Opcode opcode,
                      std::string&& payload, const std::string& senderClient,
                      const std::string& senderUser) {
  bus::BusMessage msg;
  msg.payload = std::move(payload);
  msg.flags = opcode == ws::Opcode::kBinary ? bus::BusMessage::kFlagBinary : 0;
  msg.senderClient = senderClient;
  msg.senderUser = senderUser;
  publish(sender.roomId(), sender.loopIndex(), std::move(msg), metrics::PublishSource::kClient, {},
          &policy);
}

void RoomHub::publish(const std::string& roomId, int loop, ws::Opcode opcode, std::string&& payload,
                      metrics::PublishSource source) {
  bus::BusMessage msg;
  msg.payload = std::move(payload);
  msg.flags = opcode == ws::Opcode::kBinary ? bus::BusMessage::kFlagBinary : 0;
  publish(roomId, loop, std::move(msg), source);
}

// Caller's loop thread.
void RoomHub::publish(const std::string& roomId, int loop, bus::BusMessage&& message,
                      metrics::PublishSource source, PublishDone done,
                      const config::RoomPolicy* policy) {
  auto msg = std::make_shared<bus::BusMessage>(std::move(message));
  msg->subject = roomSubject(roomId);
  msg->origin = nodeId_;
  msg->originTimeNs = realtimeNs();
  // Presence events are not messages.
  if (metrics_ && msg->kind == bus::MessageKind::kMessage) metrics_->loop(loop).published(source);

  const config::RoomPolicy& rules = policy != nullptr ? *policy : policyFor(roomId);
  if (rules.keepsHistory() && msg->kind == bus::MessageKind::kMessage && storage_ != nullptr) {
    // Numbered by the store and delivered when the bus brings it back, here too.
    // Sent from the room's home loop, after whatever that loop asked the store before: the
    // node view's first read (at the first member's join) and every join's read then precede
    // the appends of members who joined before them, so no such message falls before a view's
    // starting point. A refusal is counted here for every publisher (a raw member and the
    // server API cannot be told; a v2 publisher also gets its 503 through `done`).
    loops_[homeOf(roomId)]->post([this, loop, msg = std::move(msg), limits = limitsOf(rules),
                                  done = std::move(done)]() mutable {
      storage_->append(
          std::move(msg), limits, [this, loop, done = std::move(done)](bus::AppendResult result) {
            if (!done && result.error.empty()) return;
            loops_[loop]->post([this, loop, done, result = std::move(result)]() mutable {
              if (!result.error.empty() && metrics_)
                metrics_->loop(loop).dropped(metrics::DropReason::kBusDown);
              if (done) done(std::move(result));
            });
          });
    });
    return;
  }
  // Local-first: the local members get it now, the other nodes through the bus.
  auto local = std::make_shared<RoomMessage>();
  local->bus = msg;
  local->originNs = msg->originTimeNs;
  const int home = homeOf(roomId);
  loops_[home]->post([this, home, roomId, local = std::move(local)]() mutable {
    actorDeliver(home, roomId, std::move(local), Path::kLocal);
  });
  bus_.publish(std::move(msg));
  if (done) done(bus::AppendResult{});
}

// Caller's loop thread.
void RoomHub::read(const std::string& roomId, int loop, const bus::ReadRequest& request,
                   ReadDone done) {
  storage_->read(roomSubject(roomId), request, onLoop(loop, std::move(done)));
}

// Caller's loop thread.
void RoomHub::presence(const std::string& roomId, int loop, PresenceDone done) {
  storage_->presenceList(roomSubject(roomId), onLoop(loop, std::move(done)));
}

// Home loop thread.
void RoomHub::actorJoined(int home, const std::string& roomId, int memberLoop,
                          MemberFormat format) {
  auto& slot = perLoop_[home].actors[roomId];
  if (!slot) slot = std::make_unique<RoomActor>(roomId, loops_.size(), policyFor(roomId));
  RoomActor& actor = *slot;
  if (actor.memberJoined(memberLoop, format) == RoomActor::Interest::kGained) {
    try {
      actor.setSubscription(bus_.subscribe(
          roomSubject(roomId),
          [this, roomId](const bus::BusMessagePtr& msg) { onBusMessage(msg, roomId); }));
    } catch (const std::exception& e) {
      // Only an invalid subject throws, and room ids are validated before joining.
      logger().error("subscribe room.%s: %s", roomId, std::string(e.what()));
    }
    // Where the stream stands now; live messages are held until it is known.
    if (actor.stream() != nullptr) readForView(home, actor);
  }
  directory_.set(roomId, actor.members());
}

// Home loop thread.
void RoomHub::actorLeft(int home, const std::string& roomId, int memberLoop, MemberFormat format) {
  auto& actors = perLoop_[home].actors;
  auto it = actors.find(roomId);
  if (it == actors.end()) return;
  RoomActor& actor = *it->second;
  const bool lost = actor.memberLeft(memberLoop, format) == RoomActor::Interest::kLost;
  directory_.set(roomId, actor.members());
  if (lost) {
    if (actor.subscription() != 0) bus_.unsubscribe(actor.subscription());
    actors.erase(it);
  }
}

// Home loop thread.
void RoomHub::actorDeliver(int home, const std::string& roomId, std::shared_ptr<RoomMessage> msg,
                           Path path) {
  auto& actors = perLoop_[home].actors;
  auto it = actors.find(roomId);
  if (it == actors.end()) return;  // everyone left before the message arrived
  RoomActor& actor = *it->second;
  if (actor.stream() != nullptr && msg->bus->offset != 0) {
    admitStored(home, actor, std::move(msg));
    return;
  }
  fanOut(home, actor, std::move(msg), path);
}

// Home loop thread: a numbered message from the bus goes out only in offset order.
void RoomHub::admitStored(int home, RoomActor& actor, std::shared_ptr<RoomMessage> msg) {
  RoomActor::StreamView& view = *actor.stream();
  if (view.synced && msg->bus->epoch != view.epoch) {
    // The stream was lost and started again (Redis flushed, TTL passed): follow the new epoch.
    // The members notice it by the epoch their messages carry.
    logger().warning("room %s: stream epoch %s replaced by %s", actor.id(), view.epoch,
                     msg->bus->epoch);
    view.epoch = msg->bus->epoch;
    view.order = history::OffsetMerger<std::shared_ptr<RoomMessage>>(msg->bus->offset - 1, false);
  }
  const uint64_t offset = msg->bus->offset;
  switch (view.order.admit(offset, msg)) {
    case history::OffsetMerger<std::shared_ptr<RoomMessage>>::Verdict::kDeliver:
      fanOut(home, actor, std::move(msg), Path::kBus);
      break;
    case history::OffsetMerger<std::shared_ptr<RoomMessage>>::Verdict::kGap:
      readForView(home, actor);
      break;
    case history::OffsetMerger<std::shared_ptr<RoomMessage>>::Verdict::kHeld:
      if (!view.reading) readForView(home, actor);  // an earlier read failed: try again
      break;
    case history::OffsetMerger<std::shared_ptr<RoomMessage>>::Verdict::kDuplicate:
      break;
  }
}

// Home loop thread: the bus may have missed messages of the room (its subscription took effect
// only now, or again after a loss): a room with history reads what it has after the last one
// delivered, so a quiet room does not wait for its next message to notice.
void RoomHub::resyncView(int home, const std::string& roomId) {
  auto& actors = perLoop_[home].actors;
  auto it = actors.find(roomId);
  if (it == actors.end() || it->second->stream() == nullptr) return;
  RoomActor& actor = *it->second;
  RoomActor::StreamView& view = *actor.stream();
  if (view.reading) {
    view.readAgain = true;
    return;
  }
  if (view.synced) readForView(home, actor);  // the first read is still to come otherwise
}

// Home loop thread: one read at a time per room. The first one only learns where the stream
// stands (its top); later ones fetch what a hole in the live stream lost.
void RoomHub::readForView(int home, RoomActor& actor) {
  RoomActor::StreamView& view = *actor.stream();
  if (view.reading || storage_ == nullptr) return;
  view.reading = true;
  const config::RoomPolicy& policy = actor.policy();
  bus::ReadRequest request;
  request.after = view.order.last();
  request.limit = view.synced ? policy.historySize : 0;
  request.metaTtlS = static_cast<uint32_t>(policy.historyTtl.count());  // appends extend it
  storage_->read(roomSubject(actor.id()), request,
                 [this, home, roomId = actor.id()](bus::StreamRead result) {
                   loops_[home]->post([this, home, roomId, result = std::move(result)]() mutable {
                     onViewRead(home, roomId, std::move(result));
                   });
                 });
}

// Home loop thread.
void RoomHub::onViewRead(int home, const std::string& roomId, bus::StreamRead read) {
  auto& actors = perLoop_[home].actors;
  auto it = actors.find(roomId);
  if (it == actors.end()) return;
  RoomActor& actor = *it->second;
  RoomActor::StreamView& view = *actor.stream();
  view.reading = false;
  if (!read.error.empty()) {
    // Held messages wait; the next one to arrive asks again.
    logger().warning("room %s: reading its stream failed: %s", roomId, read.error);
    return;
  }
  if (!view.synced) {
    // Where live delivery starts: after the stream's top as it is now.
    view.synced = true;
    view.epoch = read.epoch;
    view.order.skipTo(read.top);
  } else if (read.epoch != view.epoch) {
    // The stream started again while a hole was being read: what was held is of the old epoch.
    logger().warning("room %s: stream epoch %s replaced by %s", roomId, view.epoch, read.epoch);
    view.epoch = read.epoch;
    view.order = history::OffsetMerger<std::shared_ptr<RoomMessage>>(read.top, false);
    return;
  }
  std::vector<std::pair<uint64_t, std::shared_ptr<RoomMessage>>> stored;
  for (bus::BusMessagePtr& msg : read.messages) {
    auto room = std::make_shared<RoomMessage>();
    room->originNs = msg->originTimeNs;
    const uint64_t offset = msg->offset;
    room->bus = std::move(msg);
    stored.emplace_back(offset, std::move(room));
  }
  uint64_t lost = 0;
  bool readAgain = false;
  for (auto& msg : view.order.catchUp(std::move(stored), read.top, lost, readAgain)) {
    fanOut(home, actor, std::move(msg), Path::kBus);
  }
  if (lost > 0) {
    if (metrics_) metrics_->loop(home).streamMessagesLost.add(lost);
    logger().warning("room %s: %Lu messages were no longer in the store", roomId,
                     static_cast<unsigned long long>(lost));
  }
  if (readAgain || view.readAgain) {
    view.readAgain = false;
    readForView(home, actor);
  }
}

// Home loop thread: the frames this node's members need, encoded once, then one task per loop
// with members (or a direct call for the home loop itself).
void RoomHub::fanOut(int home, RoomActor& actor, std::shared_ptr<RoomMessage> msg, Path path) {
  if (actor.rawMembers() > 0 && !msg->rawFrame) msg->rawFrame = rawFrameOf(*msg->bus);
  if (actor.v2Members() > 0 && !msg->v2Frame) msg->v2Frame = v2FrameOf(actor.id(), *msg->bus);
  if (metrics_) metrics_->loop(home).fanout.observe(actor.members());
  RoomMessagePtr shared = std::move(msg);
  const std::string& roomId = actor.id();
  actor.forEachLoopWithMembers([&](int loop) {
    if (loop == home) {
      deliverLocal(loop, roomId, shared, path);
    } else {
      loops_[loop]->post(
          [this, loop, roomId, shared, path] { deliverLocal(loop, roomId, shared, path); });
    }
  });
}

// Member loop thread. Latency is recorded once per loop hand-over, weighted by the recipients:
// per-recipient figures without per-recipient work.
void RoomHub::deliverLocal(int loop, const std::string& roomId, const RoomMessagePtr& msg,
                           Path path) {
  const size_t delivered = perLoop_[loop].local.deliver(roomId, *msg);
  if (metrics_ == nullptr || delivered == 0) return;
  metrics::LoopMetrics& m = metrics_->loop(loop);
  m.messagesDelivered.add(delivered);
  const double seconds = static_cast<double>(realtimeNs() - msg->originNs) / 1e9;
  (path == Path::kLocal ? m.latencyLocal : m.latencyBus).observe(seconds, delivered);
}

// Bus thread: drop our own unnumbered messages (already delivered locally) and hand the rest to
// the room's home loop.
void RoomHub::onBusMessage(const bus::BusMessagePtr& msg, const std::string& roomId) {
  if (msg->kind == bus::MessageKind::kResync) {
    const int home = homeOf(roomId);
    loops_[home]->post([this, home, roomId] { resyncView(home, roomId); });
    return;
  }
  if (msg->offset == 0 && msg->origin == nodeId_) return;
  auto room = std::make_shared<RoomMessage>();
  room->bus = msg;
  room->originNs = msg->originTimeNs;
  const int home = homeOf(roomId);
  loops_[home]->post([this, home, roomId, room = std::move(room)]() mutable {
    actorDeliver(home, roomId, std::move(room), Path::kBus);
  });
}

}  // namespace heimdallr::room
