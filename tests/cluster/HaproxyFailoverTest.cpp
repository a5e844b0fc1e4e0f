// Through a real HAProxy in front of two real nodes on a real Redis: clients spread over both
// nodes talk, one node is killed, and its clients reconnect through HAProxy and carry on.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "support/ClusterNodes.h"
#include "support/HaproxyProcess.h"
#include "support/RedisServer.h"
#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

/// Sends probes from `from` until `to` hears one (subscriptions across nodes are asynchronous).
bool hears(WsTestClient& from, WsTestClient& to, const std::string& text) {
  for (int i = 0; i < 100; ++i) {
    from.sendText(text);
    while (auto frame = to.receive(30ms)) {
      if (frame->payload == text) return true;
    }
  }
  return false;
}
}  // namespace

TEST(HaproxyFailover, clients_of_a_killed_node_reconnect_through_haproxy_and_continue) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer redis;
  auto nodes = startRedisNodes(redis, 2);
  HaproxyProcess lb({nodes[0]->port(), nodes[1]->port()});
  ASSERT_TRUE(lb.waitForServersUp());

  // Four clients through HAProxy: round-robin puts them on both nodes.
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(lb.port()));
    ASSERT_EQ(101, clients.back()->handshake("/failover"));
  }
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline &&
         (fetchStats(nodes[0]->port()).connections == 0 ||
          fetchStats(nodes[1]->port()).connections == 0)) {
    std::this_thread::sleep_for(20ms);
  }
  const int onNode1 = static_cast<int>(fetchStats(nodes[0]->port()).connections);
  const int onNode2 = static_cast<int>(fetchStats(nodes[1]->port()).connections);
  ASSERT_GT(onNode1, 0);
  ASSERT_GT(onNode2, 0);
  ASSERT_EQ(4, onNode1 + onNode2);
  for (size_t i = 1; i < clients.size(); ++i) {
    ASSERT_TRUE(hears(*clients[0], *clients[i], "hello " + std::to_string(i)));
  }

  // node1 dies. Its clients lose their connection; the others stay.
  nodes[0]->kill();
  int lost = 0;
  for (auto& client : clients) {
    if (client->waitForEof(300ms)) ++lost;
  }
  EXPECT_EQ(onNode1, lost);

  // The lost clients reconnect through HAProxy (which routes them to node2) and carry on.
  const auto reconnectDeadline = std::chrono::steady_clock::now() + 10s;
  for (auto& client : clients) {
    if (!client->waitForEof(0ms)) continue;
    for (;;) {
      ASSERT_LT(std::chrono::steady_clock::now(), reconnectDeadline) << "could not reconnect";
      client = std::make_unique<WsTestClient>(lb.port());
      if (client->handshake("/failover") == 101) break;  // a try that hit the dead node fails
      std::this_thread::sleep_for(50ms);
    }
  }
  EXPECT_EQ(4, fetchStats(nodes[1]->port()).connections);
  for (size_t i = 0; i < clients.size(); ++i) {
    for (size_t j = 0; j < clients.size(); ++j) {
      if (i == j) continue;
      EXPECT_TRUE(hears(*clients[i], *clients[j], "after " + std::to_string(i)))
          << i << " -> " << j;
    }
  }
}

}  // namespace heimdallr::test
