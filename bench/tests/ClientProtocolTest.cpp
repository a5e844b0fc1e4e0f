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

TEST(ClientProtocol, v2_upgrades_on_root_and_builds_commands) {
  EXPECT_EQ(requestPath(Protocol::kV2, "r1"), "/");
  EXPECT_EQ(parseProtocol("v2"), Protocol::kV2);
  EXPECT_EQ(v2Connect(1, "bench-3"), R"({"id":1,"connect":{"name":"bench-3"}})");
  EXPECT_EQ(v2Join(2, "r1"), R"({"id":2,"join":{"room":"r1"}})");
  const V2Position since{41, "e7"};
  EXPECT_EQ(v2Join(5, "r1", &since),
            R"({"id":5,"join":{"room":"r1","since":{"offset":41,"epoch":"e7"}}})");
  EXPECT_EQ(v2Presence(6, "r1"), R"({"id":6,"presence":{"room":"r1"}})");
  std::string out;
  v2Publish(7, "r1", "HB1 abc", out);
  EXPECT_EQ(out, R"({"id":7,"publish":{"room":"r1","data":"HB1 abc"}})");
}

TEST(ClientProtocol, v2_reads_replies_and_message_pushes) {
  V2Frame f = parseV2Frame(R"({"id":12,"ok":{"offset":3}})");
  EXPECT_EQ(f.kind, V2Frame::Kind::kReply);
  EXPECT_EQ(f.id, 12u);
  EXPECT_TRUE(f.ok);
  f = parseV2Frame(R"({"id":9,"error":{"code":503,"message":"bus down"}})");
  EXPECT_EQ(f.kind, V2Frame::Kind::kReply);
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.errorCode, 503);
  f = parseV2Frame(
      R"({"push":"message","room":"r1","offset":21,"data":"HB1 x","from":{"client":"c","user":"u"}})");
  EXPECT_EQ(f.kind, V2Frame::Kind::kMessage);
  EXPECT_EQ(f.offset, 21u);
  EXPECT_EQ(f.data, "HB1 x");
  f = parseV2Frame(
      R"({"push":"message","room":"r1","data":{"a":1},"from":{"client":"c","user":"u"}})");
  EXPECT_EQ(f.kind, V2Frame::Kind::kMessage);
  EXPECT_EQ(f.offset, 0u);
  EXPECT_TRUE(f.data.empty());
  EXPECT_EQ(parseV2Frame(R"({"push":"join","room":"r1","member":{}})").kind,
            V2Frame::Kind::kOtherPush);

  const std::string reply =
      R"({"id":2,"ok":{"room":"r","offset":3,"epoch":"e1","recovered":true,"messages":[)"
      R"({"room":"r","offset":2,"data":"m2","from":{"client":"c","user":"u"}},)"
      R"({"room":"r","offset":3,"data":"m3","from":{"client":"c","user":"u"}}],)"
      R"("members":[{"client":"c","user":"u","info":null,"node":"n1"}]}})";
  EXPECT_EQ(jsonUintField(reply, "offset"), 3u);
  EXPECT_EQ(jsonStringField(reply, "epoch"), "e1");
  EXPECT_EQ(countOccurrences(reply, "\"node\":"), 1u);
  std::vector<std::string> data;
  EXPECT_EQ(forEachV2MessageData(reply, [&](std::string_view d) { data.emplace_back(d); }), 2u);
  EXPECT_EQ(data, (std::vector<std::string>{"m2", "m3"}));
}

TEST(ClientProtocol, socketio_recovery_offsets_and_pid) {
  const std::string event = R"(42["msg","HB1 abc","Q8ycdJh"])";
  EXPECT_EQ(socketIoEventOffset(event), "Q8ycdJh");
  EXPECT_FALSE(socketIoEventOffset(R"(42["msg","HB1 abc"])"));
  EXPECT_EQ(jsonStringField(R"(40{"sid":"s1","pid":"p9"})", "pid"), "p9");
  EXPECT_EQ(socketIoRecoveryConnect("p9", "Q8"), R"(40{"pid":"p9","offset":"Q8"})");
}
