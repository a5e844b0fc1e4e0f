// GET /stats?scope=cluster against the real server. With the inmem plugin the cluster is this one
// node, which hears its own reports through the bus; multi-node runs over Redis reuse the same
// reading of the reply.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One node's counts, or the totals, as /stats?scope=cluster reports them.
struct Counts {
  std::string node;
  int64_t connections = -1;
  int64_t tcpConnections = -1;
  int64_t roomCount = -1;
  std::map<std::string, int64_t> rooms;
};

struct ClusterView {
  std::string node;
  std::vector<Counts> nodes;
  std::vector<int64_t> ages;
  Counts totals;
  int64_t totalNodes = -1;
};

Counts countsFrom(const Poco::JSON::Object& object) {
  Counts counts;
  counts.node = object.optValue<std::string>("node", "");
  counts.connections = object.getValue<Poco::Int64>("connections");
  counts.tcpConnections = object.getValue<Poco::Int64>("tcp_connections");
  counts.roomCount = object.getValue<Poco::Int64>("room_count");
  const auto rooms = object.getObject("rooms");
  if (!rooms) throw std::runtime_error("no rooms object");
  for (const auto& [room, members] : *rooms) counts.rooms[room] = members.convert<Poco::Int64>();
  return counts;
}

ClusterView fetchClusterStats(uint16_t port) {
  const HttpResult result = httpGet(port, "/stats?scope=cluster");
  if (result.status != 200) {
    throw std::runtime_error("GET /stats?scope=cluster answered " + std::to_string(result.status));
  }
  Poco::JSON::Parser parser;
  const auto body = parser.parse(result.body).extract<Poco::JSON::Object::Ptr>();
  if (body->getValue<std::string>("scope") != "cluster") {
    throw std::runtime_error("not a cluster reply: " + result.body);
  }
  ClusterView view;
  view.node = body->getValue<std::string>("node");
  for (const auto& entry : *body->getArray("nodes")) {
    const auto node = entry.extract<Poco::JSON::Object::Ptr>();
    view.nodes.push_back(countsFrom(*node));
    view.ages.push_back(node->getValue<Poco::Int64>("age_ms"));
  }
  const auto totals = body->getObject("totals");
  view.totals = countsFrom(*totals);
  view.totalNodes = totals->getValue<Poco::Int64>("nodes");
  return view;
}

// Polls until `done(view)` holds or `timeout` passes; returns the last view.
template <typename Predicate>
ClusterView waitForClusterStats(uint16_t port, Predicate done,
                                std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  ClusterView view = fetchClusterStats(port);
  while (!done(view) && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    view = fetchClusterStats(port);
  }
  return view;
}

std::vector<std::unique_ptr<WsTestClient>> joinRooms(uint16_t port,
                                                     const std::vector<std::string>& paths) {
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (const auto& path : paths) {
    clients.push_back(std::make_unique<WsTestClient>(port));
    if (clients.back()->handshake(path) != 101) throw std::runtime_error("cannot join " + path);
  }
  return clients;
}
}  // namespace

TEST(ClusterStats, single_node_cluster_totals_equal_the_nodes_own_stats) {
  ServerProcess server({"stats.interval_s=1"});
  const auto clients = joinRooms(server.port(), {"/a", "/a", "/a", "/b"});

  const std::map<std::string, int64_t> expectedRooms{{"a", 3}, {"b", 1}};
  const ClusterView view = waitForClusterStats(server.port(), [&](const ClusterView& v) {
    return v.totals.connections == 4 && v.totals.rooms == expectedRooms;
  });
  EXPECT_EQ(4, view.totals.connections);
  EXPECT_EQ(expectedRooms, view.totals.rooms);
  EXPECT_EQ(2, view.totals.roomCount);
  EXPECT_EQ(1, view.totalNodes);

  const StatsSnapshot own = fetchStats(server.port());
  EXPECT_EQ(own.node, view.node);
  ASSERT_EQ(1u, view.nodes.size()) << "the inmem bus echoes only this node's own reports";
  EXPECT_EQ(own.node, view.nodes[0].node);
  EXPECT_EQ(own.connections, view.nodes[0].connections);
  EXPECT_EQ(own.rooms, view.nodes[0].rooms);
  EXPECT_EQ(own.connections, view.totals.connections);
  EXPECT_EQ(own.rooms, view.totals.rooms);
  EXPECT_EQ(view.nodes[0].tcpConnections, view.totals.tcpConnections);
  EXPECT_GE(view.ages[0], 0);
  EXPECT_LE(view.ages[0], 3000) << "reports arrive every second";
}

TEST(ClusterStats, cluster_view_follows_clients_leaving) {
  ServerProcess server({"stats.interval_s=1"});
  auto clients = joinRooms(server.port(), {"/a", "/b"});
  ClusterView view = waitForClusterStats(
      server.port(), [](const ClusterView& v) { return v.totals.connections == 2; });
  ASSERT_EQ(2, view.totals.connections);

  clients.clear();
  view = waitForClusterStats(server.port(), [](const ClusterView& v) {
    return v.totals.connections == 0 && v.totals.rooms.empty();
  });
  EXPECT_EQ(0, view.totals.connections);
  EXPECT_TRUE(view.totals.rooms.empty());
  EXPECT_EQ(0, view.totals.roomCount);
  EXPECT_EQ(1, view.totalNodes) << "an idle node still reports";
}

TEST(ClusterStats, scope_node_is_the_plain_stats_reply) {
  ServerProcess server;
  const auto clients = joinRooms(server.port(), {"/a"});
  waitForRoomMembers(server.port(), "a", 1);
  const HttpResult plain = httpGet(server.port(), "/stats");
  const HttpResult node = httpGet(server.port(), "/stats?scope=node");
  ASSERT_EQ(200, node.status);
  Poco::JSON::Parser parser;
  const auto plainBody = parser.parse(plain.body).extract<Poco::JSON::Object::Ptr>();
  parser.reset();
  const auto nodeBody = parser.parse(node.body).extract<Poco::JSON::Object::Ptr>();
  EXPECT_EQ(plainBody->getNames(), nodeBody->getNames()) << node.body;
  // tcp_connections may differ by a closing connection; the rest is the same reply.
  const Counts a = countsFrom(*plainBody), b = countsFrom(*nodeBody);
  EXPECT_EQ(a.node, b.node);
  EXPECT_EQ(1, b.connections);
  EXPECT_EQ(a.connections, b.connections);
  EXPECT_EQ(a.rooms, b.rooms);
  EXPECT_EQ(a.roomCount, b.roomCount);
}

TEST(ClusterStats, unknown_or_repeated_scope_is_400) {
  ServerProcess server;
  for (const char* path : {"/stats?scope=bogus", "/stats?scope=", "/stats?scope=CLUSTER",
                           "/stats?scope=cluster&scope=node"}) {
    const HttpResult result = httpGet(server.port(), path);
    EXPECT_EQ(400, result.status) << path;
    EXPECT_NE(std::string::npos, result.body.find("\"error\"")) << path << ": " << result.body;
  }
  EXPECT_EQ(200, httpGet(server.port(), "/stats?scope=cluster").status);
}

TEST(ClusterStats, server_with_a_long_stats_interval_still_stops_promptly) {
  ServerProcess server({"stats.interval_s=3600"});
  // The first report goes out at start: the node shows up without waiting an hour.
  const ClusterView view =
      waitForClusterStats(server.port(), [](const ClusterView& v) { return v.totalNodes == 1; });
  EXPECT_EQ(1, view.totalNodes);
  const auto before = Clock::now();
  EXPECT_EQ(0, server.stop());
  EXPECT_LT(Clock::now() - before, 5s);
}

}  // namespace heimdallr::test
