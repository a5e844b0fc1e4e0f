// End-to-end chat through the real server: rooms, fan-out, order, frame kinds.
#include <gtest/gtest.h>

#include "support/ServerProcess.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

TEST(Chat, two_clients_in_a_room_both_receive_and_another_room_sees_nothing) {
  ServerProcess server;
  WsTestClient alice(server.port()), bob(server.port()), carol(server.port());
  ASSERT_EQ(101, alice.handshake("/42"));
  ASSERT_EQ(101, bob.handshake("/42"));
  ASSERT_EQ(101, carol.handshake("/43"));
  alice.sendText("hello from alice");
  for (auto* c : {&alice, &bob}) {
    auto frame = c->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(ws::Opcode::kText, frame->opcode);
    EXPECT_EQ("hello from alice", frame->payload);
  }
  EXPECT_FALSE(carol.receive(std::chrono::milliseconds(300)));
}

}  // namespace heimdallr::test
