// Several real nodes on one real redis-server: rooms spread across nodes, exactly-once delivery in
// each sender's order, interest-based subscriptions, and a Redis crash under traffic.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "support/ClusterNodes.h"
#include "support/RedisServer.h"
#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

class Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
    redis_ = std::make_unique<RedisServer>();
  }

  void startNodes(int count) {
    // Clients here fire hundreds of messages at once to test order under load: no rate limit.
    nodes_ =
        startRedisNodes(*redis_, count, {"server.io_threads=2", "limits.messages_per_second=0"});
    for (auto& node : nodes_) ASSERT_TRUE(waitForHealth(*node, 200));
  }

  static bool waitForHealth(ServerProcess& node, int status,
                            std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        if (httpGet(node.port(), "/health").status == status) return true;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  /// Each client sends probes until every other client has heard one: every node's room
  /// subscription is live. Probes are drained so the real traffic starts clean.
  static void connectRoom(std::vector<std::unique_ptr<WsTestClient>>& clients) {
    for (size_t s = 0; s < clients.size(); ++s) {
      for (size_t r = 0; r < clients.size(); ++r) {
        if (r == s) continue;
        bool heard = false;
        for (int attempt = 0; attempt < 100 && !heard; ++attempt) {
          clients[s]->sendText("probe");
          while (auto frame = clients[r]->receive(50ms)) {
            if (frame->payload == "probe") heard = true;
          }
        }
        ASSERT_TRUE(heard) << "client " << r << " never heard client " << s;
      }
    }
    std::this_thread::sleep_for(100ms);  // let the last probes land, then drop them all
    for (auto& c : clients) {
      while (c->receive(20ms)) {
      }
    }
  }

  /// Every client sends `perSender` numbered messages; every client must receive all of them
  /// exactly once and in each sender's order.
  static void exchange(std::vector<std::unique_ptr<WsTestClient>>& clients, int perSender,
                       const std::string& tag) {
    const int senders = static_cast<int>(clients.size());
    std::vector<std::thread> readers;
    std::vector<std::string> failures(clients.size());
    for (int r = 0; r < senders; ++r) {
      readers.emplace_back([&, r] {
        std::map<int, int> next;
        for (int i = 0; i < senders * perSender; ++i) {
          auto frame = clients[r]->receive(10s);
          if (!frame) {
            failures[r] = "client " + std::to_string(r) + " got only " + std::to_string(i);
            return;
          }
          if (frame->payload.rfind(tag, 0) != 0) {
            --i;  // a late probe
            continue;
          }
          const auto rest = frame->payload.substr(tag.size());
          const int sender = std::stoi(rest.substr(0, rest.find(':')));
          const int seq = std::stoi(rest.substr(rest.find(':') + 1));
          if (seq != next[sender]) {
            failures[r] = "client " + std::to_string(r) + " sender " + std::to_string(sender) +
                          ": expected " + std::to_string(next[sender]) + " got " +
                          std::to_string(seq);
            return;
          }
          next[sender] = seq + 1;
        }
        if (auto extra = clients[r]->receive(200ms)) {
          failures[r] = "client " + std::to_string(r) + " got an extra message: " + extra->payload;
        }
      });
    }
    for (int n = 0; n < perSender; ++n) {
      for (int s = 0; s < senders; ++s) {
        clients[s]->sendText(tag + std::to_string(s) + ":" + std::to_string(n));
      }
    }
    for (auto& t : readers) t.join();
    for (const auto& f : failures) EXPECT_EQ("", f);
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};
}  // namespace

TEST_F(Cluster, two_nodes_deliver_1000_messages_exactly_once_in_sender_order) {
  startNodes(2);
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(nodes_[i]->port()));
    ASSERT_EQ(101, clients.back()->handshake("/42"));
  }
  connectRoom(clients);
  exchange(clients, 500, "m");
}

TEST_F(Cluster, three_nodes_deliver_every_message_exactly_once_in_sender_order) {
  startNodes(3);
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 6; ++i) {  // two clients per node
    clients.push_back(std::make_unique<WsTestClient>(nodes_[i % 3]->port()));
    ASSERT_EQ(101, clients.back()->handshake("/42"));
  }
  connectRoom(clients);
  exchange(clients, 170, "m");
}

TEST_F(Cluster, a_node_subscribes_to_a_room_only_while_it_has_members_there) {
  startNodes(2);
  auto subscribers = [&](const std::string& room) {
    const std::string reply = redis_->command("PUBSUB NUMSUB heimdallr.room." + room);
    const auto colon = reply.rfind(':');
    return colon == std::string::npos ? -1 : std::stoi(reply.substr(colon + 1));
  };
  auto waitForSubscribers = [&](const std::string& room, int expected) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (subscribers(room) != expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    return subscribers(room);
  };
  auto only = std::make_unique<WsTestClient>(nodes_[0]->port());
  ASSERT_EQ(101, only->handshake("/lonely"));
  EXPECT_EQ(1, waitForSubscribers("lonely", 1)) << "only node1 should hear room lonely";
  {
    WsTestClient visitor(nodes_[1]->port());
    ASSERT_EQ(101, visitor.handshake("/lonely"));
    EXPECT_EQ(2, waitForSubscribers("lonely", 2));
  }
  EXPECT_EQ(1, waitForSubscribers("lonely", 1)) << "node2 must unsubscribe when its member leaves";
  only.reset();
  EXPECT_EQ(0, waitForSubscribers("lonely", 0));
}

TEST_F(Cluster, redis_sigkill_under_traffic_keeps_local_delivery_and_recovers_without_duplicates) {
  startNodes(2);
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int port : {nodes_[0]->port(), nodes_[0]->port(), nodes_[1]->port()}) {
    clients.push_back(std::make_unique<WsTestClient>(static_cast<uint16_t>(port)));
    ASSERT_EQ(101, clients.back()->handshake("/storm"));
  }
  connectRoom(clients);
  // Traffic is flowing when Redis dies.
  std::atomic<bool> sending{true};
  std::thread background([&] {
    int n = 0;
    while (sending) {
      clients[2]->sendText("bg" + std::to_string(n++));
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(100ms);
  redis_->kill();
  ASSERT_TRUE(waitForHealth(*nodes_[0], 503)) << "/health must say the bus is down";
  const auto health = httpGet(nodes_[0]->port(), "/health");
  EXPECT_NE(std::string::npos, health.body.find("bus down")) << health.body;
  sending = false;
  background.join();

  // Local delivery goes on while Redis is down: node1's two clients still talk.
  for (auto& c : clients) {
    while (c->receive(50ms)) {
    }
  }
  clients[0]->sendText("local while down");
  bool heard = false;
  while (auto frame = clients[1]->receive(2s)) {
    if (frame->payload == "local while down") {
      heard = true;
      break;
    }
  }
  EXPECT_TRUE(heard);

  // Redis comes back: cross-node delivery resumes within 2 s, and nothing is duplicated.
  const auto restarted = std::chrono::steady_clock::now();
  redis_->restart();
  bool crossed = false;
  while (!crossed && std::chrono::steady_clock::now() - restarted < 10s) {
    clients[0]->sendText("cross?");
    while (auto frame = clients[2]->receive(20ms)) {
      if (frame->payload == "cross?") crossed = true;
    }
  }
  const auto recovery = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - restarted);
  std::cout << "[ cluster ] cross-node delivery back " << recovery.count()
            << " ms after Redis restarted" << std::endl;
  ASSERT_TRUE(crossed);
  EXPECT_LT(recovery.count(), 2000);
  EXPECT_TRUE(waitForHealth(*nodes_[0], 200));
  EXPECT_TRUE(waitForHealth(*nodes_[1], 200));
  std::this_thread::sleep_for(100ms);
  for (auto& c : clients) {
    while (c->receive(20ms)) {
    }
  }
  exchange(clients, 100, "after");
  // The outage is logged once down and once up, not once per message.
  auto count = [](const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++n;
    return n;
  };
  for (auto& node : nodes_) {
    const std::string log = node->log();
    EXPECT_EQ(1u, count(log, "bus down")) << log;
    EXPECT_EQ(1u, count(log, "bus up")) << log;
  }
  for (auto& node : nodes_) EXPECT_EQ(0, node->stop()) << "a node crashed or hung";
}

}  // namespace heimdallr::test
