#pragma once

#include <map>
#include <sstream>
#include <string>

#include "support/WsTestClient.h"

namespace heimdallr::test {

/// One scrape of GET /metrics, parsed into "name{labels}" -> value. Not thread-safe.
class MetricsScrape {
 public:
  explicit MetricsScrape(uint16_t port) : text_(httpGet(port, "/metrics").body) {
    std::istringstream lines(text_);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty() || line[0] == '#') continue;
      const auto space = line.rfind(' ');
      if (space == std::string::npos) continue;
      values_[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
  }

  /// The sample's value, e.g. value("heimdallr_connections_closed_total{reason=\"idle\"}"), or
  /// -1 when the scrape has no such sample.
  double value(const std::string& sample) const {
    auto it = values_.find(sample);
    return it == values_.end() ? -1 : it->second;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::map<std::string, double> values_;
};

}  // namespace heimdallr::test
