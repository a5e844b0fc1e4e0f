#include <gtest/gtest.h>

#include "ClientProtocol.h"

using namespace heimdallr::bench;

TEST(ClientProtocol, joins_the_room_by_path_or_socketio_query) {
  EXPECT_EQ(requestPath(Protocol::kHeimdallr, "r1"), "/r1");
  EXPECT_EQ(requestPath(Protocol::kSocketIo, "r1"),
            "/socket.io/?EIO=4&transport=websocket&room=r1");
}

TEST(ClientProtocol, wraps_and_unwraps_socketio_msg_events) {
  std::string out;
  wrapMessage(Protocol::kSocketIo, "HB1 abc", out);
  EXPECT_EQ(out, "42[\"msg\",\"HB1 abc\"]");
  EXPECT_EQ(classifySocketIo(out), SocketIoPacket::kEvent);
  EXPECT_EQ(socketIoMessagePayload(out).value(), "HB1 abc");
  wrapMessage(Protocol::kWs, "HB1 abc", out);
  EXPECT_EQ(out, "HB1 abc");
}

TEST(ClientProtocol, classifies_engineio_control_packets) {
  EXPECT_EQ(classifySocketIo("0{\"sid\":\"x\"}"), SocketIoPacket::kOpen);
  EXPECT_EQ(classifySocketIo("40{\"sid\":\"y\"}"), SocketIoPacket::kConnected);
  EXPECT_EQ(classifySocketIo("2"), SocketIoPacket::kPing);
  EXPECT_EQ(classifySocketIo("44{\"message\":\"no\"}"), SocketIoPacket::kClose);
  EXPECT_FALSE(socketIoMessagePayload("42[\"other\",\"x\"]"));
}
