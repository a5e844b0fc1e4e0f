#include <gtest/gtest.h>

#include <vector>

#include "room/LocalRooms.h"

namespace heimdallr::room {

namespace {
class FakeMember : public RoomMember {
 public:
  explicit FakeMember(std::string room) : room_(std::move(room)) {}
  const std::string& roomId() const override { return room_; }
  int loopIndex() const override { return 0; }
  bool deliver(const RoomMessage& msg) override {
    received.push_back(msg.rawFrame);
    return true;
  }
  std::vector<net::SharedBuffer> received;

 private:
  std::string room_;
};
}  // namespace

TEST(LocalRooms, delivers_the_same_shared_frame_to_every_member_of_the_room_only) {
  LocalRooms rooms;
  FakeMember a("42"), b("42"), c("43");
  rooms.add(a);
  rooms.add(b);
  rooms.add(c);
  auto frame = net::makeSharedBuffer("frame");
  EXPECT_EQ(2u, rooms.deliver("42", RoomMessage{nullptr, frame}));
  ASSERT_EQ(1u, a.received.size());
  ASSERT_EQ(1u, b.received.size());
  EXPECT_EQ(frame.get(), a.received[0].get());  // shared, not copied
  EXPECT_EQ(frame.get(), b.received[0].get());
  EXPECT_TRUE(c.received.empty());
}

TEST(LocalRooms, removing_any_member_keeps_the_others) {
  LocalRooms rooms;
  FakeMember a("r"), b("r"), c("r");
  rooms.add(a);
  rooms.add(b);
  EXPECT_EQ(3u, rooms.add(c));
  EXPECT_EQ(2u, rooms.remove(a));  // the last one moves into a's slot
  EXPECT_EQ(1u, rooms.remove(c));
  rooms.deliver("r", RoomMessage{nullptr, net::makeSharedBuffer("x")});
  EXPECT_TRUE(a.received.empty());
  EXPECT_EQ(1u, b.received.size());
  EXPECT_TRUE(c.received.empty());
}

TEST(LocalRooms, room_disappears_with_its_last_member_and_double_remove_is_harmless) {
  LocalRooms rooms;
  FakeMember a("r");
  rooms.add(a);
  EXPECT_EQ(1u, rooms.roomCount());
  EXPECT_EQ(0u, rooms.remove(a));
  EXPECT_EQ(0u, rooms.roomCount());
  EXPECT_EQ(0u, rooms.remove(a));
  EXPECT_EQ(0u, rooms.deliver("r", RoomMessage{nullptr, net::makeSharedBuffer("x")}));
}

}  // namespace heimdallr::room
