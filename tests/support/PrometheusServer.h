#pragma once

#include <Poco/Process.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace heimdallr::test {

/// A real `prometheus` server on a free 127.0.0.1 port, scraping the given loopback ports every
/// second with the job of conf/prometheus.yml, its data in a temporary folder. Started (and
/// waited for) in the constructor, stopped and cleaned up in the destructor. Not thread-safe.
class PrometheusServer {
 public:
  explicit PrometheusServer(const std::vector<uint16_t>& targetPorts);
  ~PrometheusServer();
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  uint16_t port() const { return port_; }
  /// GET /api/v1/query?query=... : the raw JSON answer.
  std::string query(const std::string& promql) const;

  static bool available();

 private:
  uint16_t port_;
  std::string dir_;
  std::unique_ptr<Poco::ProcessHandle> handle_;
};

}  // namespace heimdallr::test
