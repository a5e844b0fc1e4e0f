#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/Config.h"
#include "heimdallr/bus/Bus.h"
#include "history/OffsetMerger.h"
#include "room/RoomMessage.h"

namespace heimdallr::room {

/// The state of one room on this node: how many members it has on each loop, and its bus
/// subscription. It lives on the room's home loop and is touched only there, one event at a time,
/// so it needs no lock. Not thread-safe.
class RoomActor {
 public:
  enum class Interest { kUnchanged, kGained, kLost };

  /// This node's view of a room with history: messages arrive through the bus with offsets and
  /// go to the members in offset order; a hole is filled from the store before what follows it.
  /// Until the first read of the store (`synced`), live messages are held.
  struct StreamView {
    history::OffsetMerger<std::shared_ptr<RoomMessage>> order{0, true};
    std::string epoch;
    bool synced = false;
    bool reading = false;    // a read for a gap is in flight
    bool readAgain = false;  // the bus said it may have missed messages during that read
  };

  RoomActor(std::string id, size_t loopCount, const config::RoomPolicy& policy);

  /// Interest goes kGained on the room's first member on this node (subscribe to the bus) and
  /// kLost when its last member leaves (unsubscribe; the actor can be destroyed).
  Interest memberJoined(int loop, MemberFormat format = MemberFormat::kRaw);
  Interest memberLeft(int loop, MemberFormat format = MemberFormat::kRaw);

  /// Calls f(loopIndex) for every loop that has members: one hand-off per loop, not per member.
  template <typename F>
  void forEachLoopWithMembers(F&& f) const {
    for (size_t i = 0; i < perLoop_.size(); ++i) {
      if (perLoop_[i] > 0) f(static_cast<int>(i));
    }
  }

  const std::string& id() const { return id_; }
  uint32_t members() const { return members_; }
  /// Members of each format here: a format nobody uses is never encoded.
  uint32_t v2Members() const { return v2Members_; }
  uint32_t rawMembers() const { return members_ - v2Members_; }
  const config::RoomPolicy& policy() const { return policy_; }
  /// Null for a room without history.
  StreamView* stream() { return stream_.get(); }
  uint32_t membersOnLoop(int loop) const { return perLoop_.at(static_cast<size_t>(loop)); }

  bus::SubscriptionId subscription() const { return subscription_; }
  void setSubscription(bus::SubscriptionId id) { subscription_ = id; }

 private:
  std::string id_;
  std::vector<uint32_t> perLoop_;
  uint32_t members_ = 0;
  uint32_t v2Members_ = 0;
  bus::SubscriptionId subscription_ = 0;
  const config::RoomPolicy& policy_;  // lives in the Config, as long as the server
  std::unique_ptr<StreamView> stream_;
};

}  // namespace heimdallr::room
