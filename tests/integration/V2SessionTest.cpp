// Protocol v2 on one real node (inmem bus), for what the conformance test (tests/e2e/v2.e2e.mjs)
// cannot aim at from outside: answers that belong to one join and not to a later join of the
// same room, the bound on store requests per connection, replies larger than the send queue,
// and a refresh that would widen or narrow a session's rooms.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "support/ServerProcess.h"
#include "support/TestTokens.h"
#include "support/V2TestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
using Json = V2TestClient::Json;

std::string frame(uint64_t id, const std::string& command, const std::string& body) {
  return "{\"id\":" + std::to_string(id) + ",\"" + command + "\":" + body + "}";
}
}  // namespace

TEST(V2Session, a_room_left_and_joined_again_gets_the_answer_of_its_own_join) {
  ServerProcess server({"history.size=50"});
  V2TestClient writer(server.port(), "w");
  Json first = writer.call("join", "{\"room\":\"r\"}");
  ASSERT_TRUE(first) << writer.lastError();
  const std::string epoch = first->getValue<std::string>("epoch");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer.call("publish", "{\"room\":\"r\",\"data\":1}"));

  V2TestClient client(server.port(), "c");
  // Join, leave and join again back to back (usually one read on the server): the first join's
  // store answer comes back after the second join exists, and must not answer it.
  const uint64_t base = 100;
  const std::string since = "{\"offset\":1,\"epoch\":\"" + epoch + "\"}";
  for (const std::string& f :
       {frame(base, "join", "{\"room\":\"r\"}"), frame(base + 1, "leave", "{\"room\":\"r\"}"),
        frame(base + 2, "join", "{\"room\":\"r\",\"since\":" + since + "}")}) {
    client.ws().sendText(f);
  }
  Json firstJoin = client.reply(base);
  ASSERT_TRUE(firstJoin);
  // Usually 409 (left before its read came back); ok only if the server read the frames apart.
  if (firstJoin->has("error")) {
    EXPECT_EQ(firstJoin->getObject("error")->getValue<int>("code"), 409);
  }
  ASSERT_TRUE(client.reply(base + 1));
  Json second = client.reply(base + 2);
  ASSERT_TRUE(second && second->has("ok"));
  Json ok = second->getObject("ok");
  EXPECT_TRUE(ok->getValue<bool>("recovered"));
  EXPECT_EQ(ok->getArray("messages")->size(), 2u);  // offsets 2 and 3, after since
  EXPECT_FALSE(client.reply(base + 2, 300ms)) << "answered twice";
}

TEST(V2Session, store_requests_waiting_per_connection_are_bounded) {
  ServerProcess server({"history.size=10"});
  V2TestClient client(server.port(), "c");
  constexpr int kCommands = 200;
  for (int i = 0; i < kCommands; ++i) {
    client.ws().sendText(frame(1000 + i, "history", "{\"room\":\"h\"}"));
  }
  int ok = 0, refused = 0;
  for (int i = 0; i < kCommands; ++i) {
    Json answer = client.reply(1000 + i);
    ASSERT_TRUE(answer) << "command " << i << " unanswered";
    if (answer->has("ok")) {
      ++ok;
    } else {
      EXPECT_EQ(answer->getObject("error")->getValue<int>("code"), 429);
      ++refused;
    }
  }
  EXPECT_EQ(ok + refused, kCommands);
  EXPECT_GE(ok, 64);
  // The commands arrive in a few reads, faster than the store answers: some are refused. (The
  // bound is 64 waiting at once; the store may answer some between reads.)
  EXPECT_GT(refused, 0);
}

TEST(V2Session, a_join_reply_larger_than_the_send_queue_is_still_delivered) {
  ServerProcess server({"history.size=50", "limits.send_queue_bytes=65536",
                        "limits.max_message_bytes=4096", "limits.messages_per_second=0"});
  V2TestClient writer(server.port(), "w");
  Json first = writer.call("join", "{\"room\":\"big\"}");
  ASSERT_TRUE(first) << writer.lastError();
  const std::string epoch = first->getValue<std::string>("epoch");
  const std::string data = "\"" + std::string(3000, 'x') + "\"";
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(writer.call("publish", "{\"room\":\"big\",\"data\":" + data + "}"))
        << writer.lastError();
  }
  V2TestClient late(server.port(), "late");
  Json ok =
      late.call("join", "{\"room\":\"big\",\"since\":{\"offset\":0,\"epoch\":\"" + epoch + "\"}}");
  ASSERT_TRUE(ok) << late.lastError();  // 150 KB in one reply, over the 64 KiB queue
  EXPECT_TRUE(ok->getValue<bool>("recovered"));
  EXPECT_EQ(ok->getArray("messages")->size(), 50u);
  EXPECT_TRUE(late.call("publish", "{\"room\":\"big\",\"data\":1}")) << "the session goes on";
}

TEST(V2Session, a_refresh_must_still_grant_the_rooms_joined_and_its_pub_applies) {
  const std::string secret = "v2-session-secret-that-is-long-enough-123";
  TempFiles dir;
  ServerProcess server({"auth.enabled=true", "auth.hmac_secret_file=" + dir.write("jwt", secret)});
  V2TestClient client(server.port(), "", mintTestToken("alice", {"a", "b"}, secret));
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.call("join", "{\"room\":\"a\"}")) << client.lastError();
  ASSERT_TRUE(client.call("publish", "{\"room\":\"a\",\"data\":1}")) << client.lastError();
  // A token without room a: refused, nothing changes.
  EXPECT_FALSE(
      client.call("refresh", "{\"token\":\"" + mintTestToken("alice", {"b"}, secret) + "\"}"));
  EXPECT_EQ(client.lastError().substr(0, 3), "403");
  EXPECT_TRUE(client.call("publish", "{\"room\":\"a\",\"data\":2}")) << client.lastError();
  // A token that keeps room a read-only: accepted, and publishing there is over.
  Json ok = client.call(
      "refresh", "{\"token\":\"" +
                     mintTestToken("alice", {"a", "b"}, secret, std::vector<std::string>{"b"}) +
                     "\"}");
  ASSERT_TRUE(ok) << client.lastError();
  EXPECT_FALSE(client.call("publish", "{\"room\":\"a\",\"data\":3}"));
  EXPECT_EQ(client.lastError().substr(0, 3), "403");
}

}  // namespace heimdallr::test
