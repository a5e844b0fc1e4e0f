#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "heimdallr/bus/Bus.h"
#include "metrics/NodeMetrics.h"
#include "net/IoLoop.h"
#include "net/SharedBuffer.h"
#include "room/LocalRooms.h"
#include "room/RoomActor.h"
#include "room/RoomDirectory.h"
#include "ws/Opcode.h"

namespace heimdallr::room {

/// Routes room traffic between sessions, room actors and the bus.
///
/// Each room has a home loop (a hash of its id); its RoomActor lives there. Each loop keeps its own
/// LocalRooms. A message is encoded into a frame once, goes to the home loop, and from there one
/// task per loop that has members delivers the shared frame to that loop's members. Every piece of
/// state is owned by exactly one loop, so the delivery path takes no lock beyond the loops' task
/// queues.
///
/// Thread-safe in this sense: join/leave/publish must be called on the member's own loop thread;
/// the bus handlers run on the bus thread and only post to loops.
class RoomHub {
 public:
  /// `metrics` may be null (metrics disabled).
  RoomHub(std::vector<net::IoLoop*> loops, bus::Bus& bus, std::string nodeId,
          RoomDirectory& directory, metrics::NodeMetrics* metrics);
  ~RoomHub();
  RoomHub(const RoomHub&) = delete;
  RoomHub& operator=(const RoomHub&) = delete;

  void join(RoomMember& member);
  void leave(RoomMember& member);
  /// A message from a local member: delivered to every local member (the sender included) without
  /// a bus round trip, and published on the bus with this node's id for the other nodes.
  void publish(RoomMember& sender, ws::Opcode opcode, std::string&& payload) {
    publish(sender.roomId(), sender.loopIndex(), opcode, std::move(payload),
            metrics::PublishSource::kClient);
  }
  /// The same path for a message that did not come from a member (the server API): called on
  /// loop `loop`'s thread, `roomId` already validated. Every member on every node gets it once.
  void publish(const std::string& roomId, int loop, ws::Opcode opcode, std::string&& payload,
               metrics::PublishSource source);

  const std::string& nodeId() const { return nodeId_; }

 private:
  struct LoopState {
    LocalRooms local;                                                    // members on this loop
    std::unordered_map<std::string, std::unique_ptr<RoomActor>> actors;  // rooms homed here
  };

  /// Where a message came from, for the delivery-latency label.
  enum class Path { kLocal, kBus };

  int homeOf(const std::string& roomId) const;
  // Home loop thread:
  void actorJoined(int home, const std::string& roomId, int memberLoop);
  void actorLeft(int home, const std::string& roomId, int memberLoop);
  void actorDeliver(int home, const std::string& roomId, const net::SharedBuffer& frame,
                    int64_t originNs, Path path);
  // A member loop's thread:
  void deliverLocal(int loop, const std::string& roomId, const net::SharedBuffer& frame,
                    int64_t originNs, Path path);
  // Bus thread:
  void onBusMessage(const bus::BusMessagePtr& msg, const std::string& roomId);

  std::vector<net::IoLoop*> loops_;
  bus::Bus& bus_;
  const std::string nodeId_;
  RoomDirectory& directory_;
  metrics::NodeMetrics* metrics_;
  std::vector<LoopState> perLoop_;  // index = loop index; each entry touched by its loop only
};

}  // namespace heimdallr::room
