// The Grafana dashboard may reference only metric names that /metrics really exports.
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "support/MetricsScrape.h"
#include "support/ServerProcess.h"

namespace heimdallr::test {

namespace {
void collectExpressions(const Poco::Dynamic::Var& node, std::vector<std::string>& out) {
  if (node.type() == typeid(Poco::JSON::Object::Ptr)) {
    auto object = node.extract<Poco::JSON::Object::Ptr>();
    for (const auto& [key, value] : *object) {
      if (key == "expr" && value.isString()) out.push_back(value.toString());
      collectExpressions(value, out);
    }
  } else if (node.type() == typeid(Poco::JSON::Array::Ptr)) {
    auto array = node.extract<Poco::JSON::Array::Ptr>();
    for (const auto& value : *array) collectExpressions(value, out);
  }
}
}  // namespace

TEST(Dashboard, references_only_metrics_that_a_live_scrape_exports) {
  std::ifstream file(std::string(HEIMDALLR_SOURCE_DIR) + "/conf/grafana/dashboards/heimdallr.json");
  ASSERT_TRUE(file) << "dashboard missing";
  std::stringstream json;
  json << file.rdbuf();
  std::vector<std::string> expressions;
  collectExpressions(Poco::JSON::Parser().parse(json.str()), expressions);
  ASSERT_GE(expressions.size(), 10u);

  ServerProcess server;
  const std::string scrape = MetricsScrape(server.port()).text();
  std::set<std::string> exported;
  const std::regex typeLine("# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) ");
  for (std::sregex_iterator it(scrape.begin(), scrape.end(), typeLine), end; it != end; ++it) {
    exported.insert((*it)[1]);
  }

  const std::regex metricName("\\b((heimdallr|process)_[a-z_]+)");
  std::set<std::string> referenced;
  for (const auto& expr : expressions) {
    for (std::sregex_iterator it(expr.begin(), expr.end(), metricName), end; it != end; ++it) {
      std::string name = (*it)[1];
      for (const char* suffix : {"_bucket", "_count", "_sum"}) {
        const std::string s(suffix);
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
            !exported.count(name)) {
          name.resize(name.size() - s.size());
        }
      }
      referenced.insert(name);
    }
  }
  ASSERT_FALSE(referenced.empty());
  for (const auto& name : referenced)
    EXPECT_TRUE(exported.count(name)) << name << " is not exported";
}

TEST(Dashboard, compose_wires_prometheus_to_every_node_and_grafana_to_the_provisioning) {
  const std::string root = HEIMDALLR_SOURCE_DIR;
  const YAML::Node compose = YAML::LoadFile(root + "/docker-compose.yml");
  const YAML::Node prometheus = YAML::LoadFile(root + "/conf/prometheus.yml");
  std::set<std::string> targets;
  for (const auto& job : prometheus["scrape_configs"]) {
    for (const auto& config : job["static_configs"]) {
      for (const auto& target : config["targets"]) targets.insert(target.as<std::string>());
    }
  }
  // Every node service is scraped on the port its command line gives it.
  std::set<std::string> nodes;
  for (const auto& service : compose["services"]) {
    const std::string name = service.first.as<std::string>();
    if (name.rfind("node", 0) != 0) continue;
    for (const auto& arg : service.second["command"]) {
      const std::string text = arg.as<std::string>();
      if (text.rfind("server.port=", 0) == 0) nodes.insert(name + ":" + text.substr(12));
    }
  }
  ASSERT_FALSE(nodes.empty());
  EXPECT_EQ(nodes, targets);
  // Grafana and Prometheus mount files that exist in the repository.
  for (const char* service : {"prometheus", "grafana"}) {
    ASSERT_TRUE(compose["services"][service]) << service;
    for (const auto& volume : compose["services"][service]["volumes"]) {
      const std::string source =
          volume.as<std::string>().substr(0, volume.as<std::string>().find(':'));
      EXPECT_TRUE(std::filesystem::exists(root + "/" + source)) << source;
    }
  }
  EXPECT_EQ(
      "/var/lib/grafana/dashboards/heimdallr.json",
      compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
          .as<std::string>());
}

}  // namespace heimdallr::test
