#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::room {

/// The state of one room on this node: how many members it has on each loop, and its bus
/// subscription. It lives on the room's home loop and is touched only there, one event at a time,
/// so it needs no lock. Not thread-safe.
class RoomActor {
 public:
  enum class Interest { kUnchanged, kGained, kLost };

  RoomActor(std::string id, size_t loopCount);

  /// Interest goes kGained on the room's first member on this node (subscribe to the bus) and
  /// kLost when its last member leaves (unsubscribe; the actor can be destroyed).
  Interest memberJoined(int loop);
  Interest memberLeft(int loop);

  /// Calls f(loopIndex) for every loop that has members: one hand-off per loop, not per member.
  template <typename F>
  void forEachLoopWithMembers(F&& f) const {
    for (size_t i = 0; i < perLoop_.size(); ++i) {
      if (perLoop_[i] > 0) f(static_cast<int>(i));
    }
  }

  const std::string& id() const { return id_; }
  uint32_t members() const { return members_; }
  uint32_t membersOnLoop(int loop) const { return perLoop_.at(static_cast<size_t>(loop)); }

  bus::SubscriptionId subscription() const { return subscription_; }
  void setSubscription(bus::SubscriptionId id) { subscription_ = id; }

 private:
  std::string id_;
  std::vector<uint32_t> perLoop_;
  uint32_t members_ = 0;
  bus::SubscriptionId subscription_ = 0;
};

}  // namespace heimdallr::room
