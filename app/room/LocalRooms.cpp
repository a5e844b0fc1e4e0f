#include "room/LocalRooms.h"

namespace heimdallr::room {

size_t LocalRooms::add(RoomMember& member) {
  auto& members = rooms_[member.roomId()];
  member.slot_ = members.size();
  members.push_back(&member);
  return members.size();
}

size_t LocalRooms::remove(RoomMember& member) {
  auto it = rooms_.find(member.roomId());
  if (it == rooms_.end()) return 0;
  auto& members = it->second;
  const size_t slot = member.slot_;
  if (slot >= members.size() || members[slot] != &member) return members.size();  // not a member
  members[slot] = members.back();
  members[slot]->slot_ = slot;
  members.pop_back();
  const size_t left = members.size();
  if (left == 0) rooms_.erase(it);
  return left;
}

size_t LocalRooms::deliver(const std::string& roomId, const RoomMessage& msg) {
  auto it = rooms_.find(roomId);
  if (it == rooms_.end()) return 0;
  size_t delivered = 0;
  for (RoomMember* member : it->second) delivered += member->deliver(msg) ? 1 : 0;
  return delivered;
}

}  // namespace heimdallr::room
