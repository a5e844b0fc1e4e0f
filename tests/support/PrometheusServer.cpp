#include "support/PrometheusServer.h"

#include <Poco/URI.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "support/FreePort.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

bool PrometheusServer::available() {
  return std::system("command -v prometheus >/dev/null 2>&1") == 0;
}

PrometheusServer::PrometheusServer(const std::vector<uint16_t>& targetPorts)
    : port_(freeLoopbackPort()) {
  char pattern[] = "/tmp/heimdallr-prometheus-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  {
    std::ofstream config(dir_ + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
              "scrape_configs:\n  - job_name: heimdallr\n    metrics_path: /metrics\n"
              "    static_configs:\n      - targets: [";
    for (size_t i = 0; i < targetPorts.size(); ++i) {
      config << (i ? ", " : "") << "\"127.0.0.1:" << targetPorts[i] << "\"";
    }
    config << "]\n";
  }
  const std::vector<std::string> args = {
      "--config.file=" + dir_ + "/prometheus.yml", "--storage.tsdb.path=" + dir_ + "/data",
      "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
  handle_ = std::make_unique<Poco::ProcessHandle>(
      Poco::Process::launch("prometheus", args, nullptr, nullptr, nullptr));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (httpGet(port_, "/-/ready").status == 200) return;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  this->~PrometheusServer();
  throw std::runtime_error("prometheus did not become ready on port " + std::to_string(port_));
}

PrometheusServer::~PrometheusServer() {
  if (handle_) {
    ::kill(handle_->id(), SIGKILL);
    int status = 0;
    ::waitpid(handle_->id(), &status, 0);
    handle_.reset();
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    dir_.clear();
  }
}

std::string PrometheusServer::query(const std::string& promql) const {
  std::string encoded;
  Poco::URI::encode(promql, "&=+?#", encoded);
  return httpGet(port_, "/api/v1/query?query=" + encoded).body;
}

}  // namespace heimdallr::test
