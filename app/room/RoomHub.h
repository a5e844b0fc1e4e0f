#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/Config.h"
#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/Storage.h"
#include "metrics/NodeMetrics.h"
#include "net/IoLoop.h"
#include "room/LocalRooms.h"
#include "room/RoomActor.h"
#include "room/RoomDirectory.h"
#include "room/RoomMessage.h"
#include "ws/Opcode.h"

namespace heimdallr::room {

/// Routes room traffic between sessions, room actors and the bus.
///
/// Each room has a home loop (a hash of its id); its RoomActor lives there. Each loop keeps its own
/// LocalRooms. A message goes to the home loop, which encodes one frame per member format in use
/// there, and from there one task per loop that has members delivers the shared frames to that
/// loop's members. Every piece of state is owned by exactly one loop, so the delivery path takes
/// no lock beyond the loops' task queues.
///
/// Rooms without history deliver a local member's message to the local members at once and
/// publish it for the other nodes (local-first). Rooms with history (config `history.size`)
/// append it to the bus's Storage, which numbers it; every node, the sender's included, delivers
/// it when the bus brings it back, in offset order (the actor's StreamView fills holes from the
/// store), so every member everywhere sees one order.
///
/// Thread-safe in this sense: join/leave/publish/read/presence must be called on the caller's own
/// loop thread (the member's, or the loop serving an API request); callbacks run on that loop. The
/// bus handlers run on the bus thread and only post to loops.
class RoomHub {
 public:
  using ReadDone = std::function<void(bus::StreamRead)>;
  using PublishDone = std::function<void(bus::AppendResult)>;
  using PresenceDone = std::function<void(bus::PresenceList)>;

  /// `metrics` may be null (metrics disabled). `rooms` must outlive the hub.
  RoomHub(std::vector<net::IoLoop*> loops, bus::Bus& bus, std::string nodeId,
          RoomDirectory& directory, metrics::NodeMetrics* metrics,
          const config::RoomsConfig& rooms);
  ~RoomHub();
  RoomHub(const RoomHub&) = delete;
  RoomHub& operator=(const RoomHub&) = delete;

  const config::RoomPolicy& policyFor(const std::string& roomId) const {
    return rooms_.policyFor(roomId);
  }
  /// The bus's Storage: non-null whenever a room may keep history or presence (checked at start).
  bus::Storage* storage() const { return storage_; }
  bool busUp() const { return bus_.status().up; }

  void join(RoomMember& member) { join(member, nullptr, {}); }
  /// Joins, and for a room with history reads its stream for this member: the read is issued from
  /// the room's home loop once the member counts there, so whatever it does not return reaches
  /// the member live. `onRead` runs on the member's loop.
  void join(RoomMember& member, const bus::ReadRequest* read, ReadDone onRead);
  void leave(RoomMember& member);

  /// A raw member's message, as it came (`policy` is its room's).
  void publish(RoomMember& sender, const config::RoomPolicy& policy, ws::Opcode opcode,
               std::string&& payload, const std::string& senderClient,
               const std::string& senderUser);
  /// A message that did not come from a member (the server API): called on loop `loop`'s thread,
  /// `roomId` already validated. Every member on every node gets it once.
  void publish(const std::string& roomId, int loop, ws::Opcode opcode, std::string&& payload,
               metrics::PublishSource source);
  /// The general form: `msg` carries payload, flags, kind and sender; subject, origin and time
  /// are set here. `done` (optional) runs on loop `loop` with the offset (rooms with history) or
  /// offset 0 (rooms without), or with an error: then nothing was published.
  /// `policy`: the room's (policyFor(roomId)), when the caller has it at hand.
  void publish(const std::string& roomId, int loop, bus::BusMessage&& msg,
               metrics::PublishSource source, PublishDone done = {},
               const config::RoomPolicy* policy = nullptr);

  /// Reads a room's stream (the v2 `history` command); `done` on loop `loop`.
  void read(const std::string& roomId, int loop, const bus::ReadRequest& request, ReadDone done);
  /// The room's presence set, cluster-wide; `done` on loop `loop`.
  void presence(const std::string& roomId, int loop, PresenceDone done);

  const std::string& nodeId() const { return nodeId_; }

 private:
  struct LoopState {
    LocalRooms local;                                                    // members on this loop
    std::unordered_map<std::string, std::unique_ptr<RoomActor>> actors;  // rooms homed here
  };

  /// Where a message came from, for the delivery-latency label.
  enum class Path { kLocal, kBus };

  int homeOf(const std::string& roomId) const;
  /// A Storage callback (plugin thread) that hands its result to `done` on loop `loop`.
  template <typename Result>
  std::function<void(Result)> onLoop(int loop, std::function<void(Result)> done) {
    return [this, loop, done = std::move(done)](Result result) {
      loops_[loop]->post([done, result = std::move(result)]() mutable { done(std::move(result)); });
    };
  }
  // Home loop thread:
  void actorJoined(int home, const std::string& roomId, int memberLoop, MemberFormat format);
  void actorLeft(int home, const std::string& roomId, int memberLoop, MemberFormat format);
  void actorDeliver(int home, const std::string& roomId, std::shared_ptr<RoomMessage> msg,
                    Path path);
  void admitStored(int home, RoomActor& actor, std::shared_ptr<RoomMessage> msg);
  void readForView(int home, RoomActor& actor);
  void resyncView(int home, const std::string& roomId);
  void onViewRead(int home, const std::string& roomId, bus::StreamRead read);
  void fanOut(int home, RoomActor& actor, std::shared_ptr<RoomMessage> msg, Path path);
  // A member loop's thread:
  void deliverLocal(int loop, const std::string& roomId, const RoomMessagePtr& msg, Path path);
  // Bus thread:
  void onBusMessage(const bus::BusMessagePtr& msg, const std::string& roomId);

  std::vector<net::IoLoop*> loops_;
  bus::Bus& bus_;
  bus::Storage* const storage_;
  const std::string nodeId_;
  RoomDirectory& directory_;
  metrics::NodeMetrics* metrics_;
  const config::RoomsConfig& rooms_;
  std::vector<LoopState> perLoop_;  // index = loop index; each entry touched by its loop only
};

}  // namespace heimdallr::room
