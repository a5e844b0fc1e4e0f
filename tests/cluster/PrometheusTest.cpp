// A real Prometheus scrapes a real 2-node cluster (on a real Redis) and sees what the test did.
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "support/ClusterNodes.h"
#include "support/PrometheusServer.h"
#include "support/RedisServer.h"
#include "support/ServerProcess.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

/// instance -> value of an instant-vector answer.
std::map<std::string, double> vectorByInstance(const std::string& json) {
  std::map<std::string, double> out;
  auto root = Poco::JSON::Parser().parse(json).extract<Poco::JSON::Object::Ptr>();
  auto result = root->getObject("data")->getArray("result");
  for (size_t i = 0; i < result->size(); ++i) {
    auto sample = result->getObject(static_cast<unsigned>(i));
    const std::string instance = sample->getObject("metric")->optValue<std::string>("instance", "");
    out[instance] = std::stod(sample->getArray("value")->getElement<std::string>(1));
  }
  return out;
}
}  // namespace

TEST(Prometheus, scrapes_both_nodes_connection_counts_and_latency_histograms) {
  if (!PrometheusServer::available()) GTEST_SKIP() << "prometheus is not installed";
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer redis;
  auto nodes = startRedisNodes(redis, 2);
  // 2 clients on node1, 3 on node2, all in one room; node1 sends so both paths have data.
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(nodes[i < 2 ? 0 : 1]->port()));
    ASSERT_EQ(101, clients.back()->handshake("/scraped"));
  }
  PrometheusServer prometheus({nodes[0]->port(), nodes[1]->port()});
  const std::string node1 = "127.0.0.1:" + std::to_string(nodes[0]->port());
  const std::string node2 = "127.0.0.1:" + std::to_string(nodes[1]->port());

  std::map<std::string, double> connections;
  std::map<std::string, double> latency;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    clients[0]->sendText("tick");
    connections = vectorByInstance(prometheus.query("heimdallr_connections"));
    latency = vectorByInstance(
        prometheus.query("sum by (instance) (heimdallr_delivery_latency_seconds_count)"));
    if (connections[node1] == 2 && connections[node2] == 3 && latency[node1] > 0 &&
        latency[node2] > 0) {
      break;
    }
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(2, connections[node1]);
  EXPECT_EQ(3, connections[node2]);
  EXPECT_GT(latency[node1], 0) << "local deliveries on node1";
  EXPECT_GT(latency[node2], 0) << "bus deliveries on node2";
  const auto up = vectorByInstance(prometheus.query("up{job=\"heimdallr\"}"));
  EXPECT_EQ(1, up.at(node1));
  EXPECT_EQ(1, up.at(node2));
}

}  // namespace heimdallr::test
