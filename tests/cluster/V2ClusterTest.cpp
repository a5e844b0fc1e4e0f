// Protocol v2 across real nodes on one real redis-server: history and recovery through the Redis
// plugin's Storage, one offset order on every node, cluster-wide presence (and a node that dies
// without a word dropping out of it), and raw and v2 members sharing a room across nodes.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/ClusterNodes.h"
#include "support/MetricsScrape.h"
#include "support/RedisServer.h"
#include "support/ServerProcess.h"
#include "support/V2TestClient.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
using Json = V2TestClient::Json;

std::string since(uint64_t offset, const std::string& epoch) {
  return "{\"offset\":" + std::to_string(offset) + ",\"epoch\":\"" + epoch + "\"}";
}

class V2Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
    redis_ = std::make_unique<RedisServer>();
  }

  /// `extra` overrides the defaults here.
  void startNodes(int count, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> overrides = {"server.io_threads=2",   "limits.messages_per_second=0",
                                          "history.size=50",       "history.join_messages=0",
                                          "presence.enabled=true", "presence.ttl_s=3"};
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    nodes_ = startRedisNodes(*redis_, count, overrides);
    for (auto& node : nodes_) ASSERT_TRUE(waitForHealth(*node));
  }

  static bool waitForHealth(ServerProcess& node, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        if (httpGet(node.port(), "/health").status == 200) return true;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  /// Joins `room` and returns the ok reply.
  static Json join(V2TestClient& client, const std::string& room,
                   const std::string& sinceJson = {}) {
    const std::string body =
        "{\"room\":\"" + room + "\"" + (sinceJson.empty() ? "" : ",\"since\":" + sinceJson) + "}";
    Json ok = client.call("join", body);
    EXPECT_TRUE(ok) << client.lastError();
    return ok;
  }

  static uint64_t publish(V2TestClient& client, const std::string& room, const std::string& data) {
    Json ok = client.call("publish", "{\"room\":\"" + room + "\",\"data\":" + data + "}");
    EXPECT_TRUE(ok) << client.lastError();
    return ok && ok->has("offset") ? ok->getValue<uint64_t>("offset") : 0;
  }

  /// The offsets of `messages` (pushes or a join reply's list), in order.
  static std::vector<uint64_t> offsetsOf(const std::vector<Json>& messages) {
    std::vector<uint64_t> offsets;
    for (const Json& m : messages) offsets.push_back(m->getValue<uint64_t>("offset"));
    return offsets;
  }
  static std::vector<Json> listOf(const Json& ok, const std::string& key) {
    std::vector<Json> out;
    auto array = ok->getArray(key);
    for (size_t i = 0; i < array->size(); ++i) out.push_back(array->getObject(i));
    return out;
  }
  static std::vector<uint64_t> range(uint64_t first, uint64_t last) {
    std::vector<uint64_t> out;
    for (uint64_t o = first; o <= last; ++o) out.push_back(o);
    return out;
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};
}  // namespace

TEST_F(V2Cluster, a_client_that_drops_recovers_what_another_node_published_meanwhile) {
  startNodes(2);
  V2TestClient writer(nodes_[1]->port(), "writer");
  join(writer, "lobby");
  uint64_t seen = 0;
  std::string epoch;
  {
    V2TestClient reader(nodes_[0]->port(), "reader");
    Json ok = join(reader, "lobby");
    ASSERT_TRUE(ok);
    epoch = ok->getValue<std::string>("epoch");
    EXPECT_EQ(publish(writer, "lobby", "\"before\""), 1u);
    auto live = reader.messages("lobby", 1);
    ASSERT_EQ(offsetsOf(live), std::vector<uint64_t>{1});
    EXPECT_EQ(live[0]->getValue<std::string>("data"), "before");
    EXPECT_EQ(live[0]->getObject("from")->getValue<std::string>("user"), "writer");
    seen = 1;
  }  // the reader's connection drops
  for (int i = 0; i < 10; ++i) publish(writer, "lobby", std::to_string(i));
  V2TestClient back(nodes_[0]->port(), "reader");
  Json ok = join(back, "lobby", since(seen, epoch));
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->getValue<bool>("recovered"));
  EXPECT_EQ(ok->getValue<uint64_t>("offset"), 11u);
  EXPECT_EQ(offsetsOf(listOf(ok, "messages")), range(2, 11));
  // Then live, with no duplicate of what was recovered.
  EXPECT_EQ(publish(writer, "lobby", "\"after\""), 12u);
  auto live = back.messages("lobby", 1);
  EXPECT_EQ(offsetsOf(live), std::vector<uint64_t>{12});
  EXPECT_TRUE(back.messages("lobby", 1, 300ms).empty());
  const MetricsScrape metrics(nodes_[0]->port());
  EXPECT_EQ(metrics.value("heimdallr_recoveries_total{result=\"recovered\"}"), 1);
  EXPECT_EQ(metrics.value("heimdallr_recoveries_total{result=\"not_recovered\"}"), 0);
}

TEST_F(V2Cluster, what_was_published_while_a_nodes_subscription_was_away_arrives_without_waiting) {
  startNodes(2);
  V2TestClient reader(nodes_[0]->port(), "reader");
  V2TestClient writer(nodes_[1]->port(), "writer");
  ASSERT_TRUE(join(reader, "quiet"));
  ASSERT_TRUE(join(writer, "quiet"));
  EXPECT_EQ(publish(writer, "quiet", "1"), 1u);
  ASSERT_EQ(offsetsOf(reader.messages("quiet", 1)), range(1, 1));
  // node1 is frozen while Redis drops every subscriber connection: node2 reconnects and
  // publishes while node1 cannot be subscribed. Then node1 wakes, reconnects and resubscribes,
  // and nothing else is published: the quiet room must not wait for a next message to reveal
  // the hole (the resubscription's resync reads it from the store).
  nodes_[0]->signal(SIGSTOP);
  ASSERT_EQ(0, std::system(("redis-cli -p " + std::to_string(redis_->port()) +
                            " CLIENT KILL TYPE pubsub > /dev/null")
                               .c_str()));
  std::vector<uint64_t> offsets;
  for (int attempt = 0; attempt < 100 && offsets.size() < 2; ++attempt) {
    Json ok = writer.call("publish", "{\"room\":\"quiet\",\"data\":2}");
    if (ok) {
      offsets.push_back(ok->getValue<uint64_t>("offset"));
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  nodes_[0]->signal(SIGCONT);
  ASSERT_EQ(offsets, range(2, 3));
  EXPECT_EQ(offsetsOf(reader.messages("quiet", 2)), range(2, 3));
}

TEST_F(V2Cluster, a_gap_larger_than_history_is_not_recovered) {
  startNodes(2, {"history.size=5"});
  V2TestClient writer(nodes_[1]->port(), "writer");
  Json first = join(writer, "r");
  ASSERT_TRUE(first);
  const std::string epoch = first->getValue<std::string>("epoch");
  for (int i = 0; i < 10; ++i) publish(writer, "r", std::to_string(i));
  V2TestClient late(nodes_[0]->port(), "late");
  Json ok = join(late, "r", since(2, epoch));  // 3 and 4 are no longer kept
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->getValue<bool>("recovered"));
  EXPECT_TRUE(listOf(ok, "messages").empty());
  EXPECT_EQ(ok->getValue<uint64_t>("offset"), 10u);
  V2TestClient inside(nodes_[0]->port(), "inside");
  Json recovered = join(inside, "r", since(6, epoch));  // 7..10 are kept
  ASSERT_TRUE(recovered);
  EXPECT_TRUE(recovered->getValue<bool>("recovered"));
  EXPECT_EQ(offsetsOf(listOf(recovered, "messages")), range(7, 10));
  const MetricsScrape metrics(nodes_[0]->port());
  EXPECT_EQ(metrics.value("heimdallr_recoveries_total{result=\"not_recovered\"}"), 1);
  EXPECT_EQ(metrics.value("heimdallr_recoveries_total{result=\"recovered\"}"), 1);
}

TEST_F(V2Cluster, a_redis_restart_changes_the_epoch_and_members_follow_it) {
  startNodes(2);
  V2TestClient writer(nodes_[1]->port(), "writer");
  V2TestClient reader(nodes_[0]->port(), "reader");
  join(writer, "e");
  Json ok = join(reader, "e");
  ASSERT_TRUE(ok);
  const std::string epoch = ok->getValue<std::string>("epoch");
  publish(writer, "e", "1");
  publish(writer, "e", "2");
  ASSERT_EQ(offsetsOf(reader.messages("e", 2)), range(1, 2));

  redis_->restart();  // no persistence: the stream and its epoch are gone
  for (auto& node : nodes_) ASSERT_TRUE(waitForHealth(*node, 15s));
  // Publishing may take a moment to succeed while the plugins reconnect.
  uint64_t offset = 0;
  for (int attempt = 0; attempt < 100 && offset == 0; ++attempt) {
    Json answer = writer.call("publish", "{\"room\":\"e\",\"data\":\"new\"}");
    if (answer) offset = answer->getValue<uint64_t>("offset");
    if (offset == 0) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(offset, 1u) << "offsets start again in the new epoch";
  // The connected reader hears that the stream started again, then the new message. (Its node
  // resubscribed after the restart; the message may need a moment.)
  Json reset = reader.push("epoch", 10s);
  ASSERT_TRUE(reset);
  EXPECT_NE(reset->getValue<std::string>("epoch"), epoch);
  auto live = reader.messages("e", 1);
  ASSERT_EQ(offsetsOf(live), std::vector<uint64_t>{1});
  EXPECT_EQ(live[0]->getValue<std::string>("data"), "new");
  // A client coming back with the old epoch learns it has a gap.
  V2TestClient late(nodes_[0]->port(), "late");
  Json again = join(late, "e", since(2, epoch));
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->getValue<bool>("recovered"));
  EXPECT_NE(again->getValue<std::string>("epoch"), epoch);
}

TEST_F(V2Cluster, every_member_on_every_node_sees_one_offset_order_under_concurrent_publishers) {
  startNodes(3);
  constexpr int kPerPublisher = 200;
  std::vector<std::unique_ptr<V2TestClient>> readers, writers;
  for (int n = 0; n < 3; ++n) {
    readers.push_back(std::make_unique<V2TestClient>(nodes_[n]->port(), "r" + std::to_string(n)));
    writers.push_back(std::make_unique<V2TestClient>(nodes_[n]->port(), "w" + std::to_string(n)));
    join(*readers.back(), "busy");
    join(*writers.back(), "busy");
  }
  // Fire everything without waiting for acks, from every node at once.
  for (int i = 0; i < kPerPublisher; ++i) {
    for (auto& writer : writers) {
      writer->send("publish", "{\"room\":\"busy\",\"data\":" + std::to_string(i) + "}");
    }
  }
  std::set<uint64_t> acked;
  for (auto& writer : writers) {
    for (uint64_t id = 3; id < 3 + kPerPublisher; ++id) {  // 1: connect, 2: join
      Json answer = writer->reply(id);
      ASSERT_TRUE(answer && answer->has("ok")) << "publish " << id << " unanswered or refused";
      acked.insert(answer->getObject("ok")->getValue<uint64_t>("offset"));
    }
  }
  EXPECT_EQ(acked.size(), 3u * kPerPublisher);
  EXPECT_EQ(*acked.begin(), 1u);
  EXPECT_EQ(*acked.rbegin(), 3u * kPerPublisher);
  for (auto& reader : readers) {
    auto got = reader->messages("busy", 3 * kPerPublisher, 20s);
    EXPECT_EQ(offsetsOf(got), range(1, 3 * kPerPublisher)) << "every offset once, in order";
  }
}

TEST_F(V2Cluster, presence_is_cluster_wide_and_a_killed_node_drops_out_within_the_ttl) {
  startNodes(3);
  std::vector<std::unique_ptr<V2TestClient>> members;
  for (int n = 0; n < 3; ++n) {
    members.push_back(std::make_unique<V2TestClient>(nodes_[n]->port(), "u" + std::to_string(n)));
    join(*members.back(), "p");
  }
  WsTestClient raw(nodes_[2]->port());
  ASSERT_EQ(101, raw.handshake("/p"));
  const auto nodesPresent = [&](V2TestClient& asker) {
    std::multiset<std::string> nodes;
    Json ok = asker.call("presence", "{\"room\":\"p\"}");
    if (!ok) return nodes;
    for (const Json& member : listOf(ok, "members"))
      nodes.insert(member->getValue<std::string>("node"));
    return nodes;
  };
  std::multiset<std::string> expected = {"node1", "node2", "node3", "node3"};
  std::multiset<std::string> seen;
  for (int attempt = 0; attempt < 50 && seen != expected; ++attempt) {
    seen = nodesPresent(*members[0]);
    if (seen != expected) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(seen, expected) << "three v2 members and one raw member, one per node and two on node3";

  nodes_[2]->signal(SIGKILL);  // says nothing to anyone
  expected = {"node1", "node2"};
  const auto killedAt = std::chrono::steady_clock::now();
  for (int attempt = 0; attempt < 100 && seen != expected; ++attempt) {
    std::this_thread::sleep_for(100ms);
    seen = nodesPresent(*members[0]);
  }
  EXPECT_EQ(seen, expected);
  EXPECT_LE(std::chrono::steady_clock::now() - killedAt, 3s + 1500ms) << "presence.ttl_s is 3";
}

TEST_F(V2Cluster, raw_and_v2_members_talk_across_nodes_both_ways) {
  startNodes(2);
  V2TestClient v2(nodes_[0]->port(), "alice");
  join(v2, "mixed");
  WsTestClient raw(nodes_[1]->port());
  ASSERT_EQ(101, raw.handshake("/mixed"));
  // The raw client's subscription is live once it hears its own message back... from the store.
  raw.sendText("hello from raw");
  auto fromRaw = v2.messages("mixed", 1);
  ASSERT_EQ(fromRaw.size(), 1u);
  EXPECT_TRUE(fromRaw[0]->getValue<bool>("raw"));
  EXPECT_EQ(fromRaw[0]->getValue<std::string>("data"), "hello from raw");
  EXPECT_EQ(fromRaw[0]->getValue<uint64_t>("offset"), 1u);
  auto own = raw.receive();
  ASSERT_TRUE(own);
  EXPECT_EQ(own->payload, "hello from raw");
  EXPECT_EQ(publish(v2, "mixed", "{\"b\":2, \"a\":[1,true]}"), 2u);
  auto toRaw = raw.receive();
  ASSERT_TRUE(toRaw);
  EXPECT_EQ(toRaw->opcode, ws::Opcode::kText);
  EXPECT_EQ(toRaw->payload, "{\"a\":[1,true],\"b\":2}");
}

TEST_F(V2Cluster, a_publish_into_a_room_with_history_while_redis_is_down_gets_503) {
  startNodes(1);
  V2TestClient client(nodes_[0]->port(), "c");
  join(client, "down");
  WsTestClient raw(nodes_[0]->port());
  ASSERT_EQ(101, raw.handshake("/down"));
  redis_->kill();
  Json answer = client.reply(client.send("publish", "{\"room\":\"down\",\"data\":1}"), 15s);
  ASSERT_TRUE(answer);
  ASSERT_TRUE(answer->has("error"));
  EXPECT_EQ(answer->getObject("error")->getValue<int>("code"), 503);
  Json history = client.reply(client.send("history", "{\"room\":\"down\"}"), 15s);
  ASSERT_TRUE(history && history->has("error"));
  EXPECT_EQ(history->getObject("error")->getValue<int>("code"), 503);
  // A raw member cannot be told; its message is counted, like the v2 one.
  raw.sendText("lost while redis is away");
  double dropped = 0;
  for (int attempt = 0; attempt < 100 && dropped < 2; ++attempt) {
    dropped = MetricsScrape(nodes_[0]->port())
                  .value("heimdallr_messages_dropped_total{reason=\"bus_down\"}");
    if (dropped < 2) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(dropped, 2);
}

}  // namespace heimdallr::test
