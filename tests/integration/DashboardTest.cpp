// The Grafana dashboard may reference only metric names that /metrics really exports.
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

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

}  // namespace heimdallr::test
