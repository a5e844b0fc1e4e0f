// /stats?scope=cluster across real nodes on a real Redis: totals are the sums of the nodes' own
// /stats, and a stopped node drops out after three intervals.
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "support/ClusterNodes.h"
#include "support/RedisServer.h"
#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

struct ClusterView {
  std::map<std::string, int64_t> connectionsByNode;
  int64_t totalConnections = -1;
  std::map<std::string, int64_t> totalRooms;
};

ClusterView clusterView(uint16_t port) {
  ClusterView view;
  const auto body = httpGet(port, "/stats?scope=cluster").body;
  auto root = Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
  auto nodes = root->getArray("nodes");
  for (size_t i = 0; i < nodes->size(); ++i) {
    auto node = nodes->getObject(static_cast<unsigned>(i));
    view.connectionsByNode[node->getValue<std::string>("node")] =
        node->getValue<int64_t>("connections");
  }
  auto totals = root->getObject("totals");
  view.totalConnections = totals->getValue<int64_t>("connections");
  auto rooms = totals->getObject("rooms");
  for (const auto& [room, members] : *rooms) view.totalRooms[room] = members.convert<int64_t>();
  return view;
}
}  // namespace

TEST(ClusterView, totals_are_the_sum_of_every_nodes_own_stats_and_a_stopped_node_drops_out) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer redis;
  auto nodes = startRedisNodes(redis, 3, {"stats.interval_s=1"});
  // node1: 2 in a; node2: 1 in a, 1 in b; node3: 1 in b.
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (auto [node, room] : std::vector<std::pair<int, std::string>>{
           {0, "/a"}, {0, "/a"}, {1, "/a"}, {1, "/b"}, {2, "/b"}}) {
    clients.push_back(std::make_unique<WsTestClient>(nodes[node]->port()));
    ASSERT_EQ(101, clients.back()->handshake(room));
  }

  ClusterView view;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    view = clusterView(nodes[0]->port());
    if (view.totalConnections == 5 && view.connectionsByNode.size() == 3) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(3u, view.connectionsByNode.size());
  int64_t sum = 0;
  std::map<std::string, int64_t> roomSums;
  for (int i = 0; i < 3; ++i) {
    const auto own = fetchStats(nodes[i]->port());
    EXPECT_EQ(own.connections, view.connectionsByNode["node" + std::to_string(i + 1)]);
    sum += own.connections;
    for (const auto& [room, members] : own.rooms) roomSums[room] += members;
  }
  EXPECT_EQ(sum, view.totalConnections);
  EXPECT_EQ(roomSums, view.totalRooms);
  EXPECT_EQ((std::map<std::string, int64_t>{{"a", 3}, {"b", 2}}), view.totalRooms);
  // Every node sees the same cluster.
  EXPECT_EQ(5, clusterView(nodes[2]->port()).totalConnections);

  // node3 stops: after three intervals (3 s here) it is gone from the others' view.
  clients.pop_back();
  nodes[2]->kill();
  const auto stopped = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - stopped < 10s) {
    view = clusterView(nodes[0]->port());
    if (view.connectionsByNode.size() == 2) break;
    std::this_thread::sleep_for(100ms);
  }
  const auto gone = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - stopped);
  std::cout << "[ cluster ] node3 left the cluster view after " << gone.count() << " ms"
            << std::endl;
  EXPECT_EQ(2u, view.connectionsByNode.size());
  EXPECT_FALSE(view.connectionsByNode.count("node3"));
  EXPECT_GE(gone.count(), 2000) << "forgotten before three intervals had passed";
  EXPECT_EQ(4, view.totalConnections);
}

}  // namespace heimdallr::test
