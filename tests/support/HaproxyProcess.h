#pragma once

#include <Poco/Pipe.h>
#include <Poco/Process.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace heimdallr::test {

/// A real haproxy on a free 127.0.0.1 port in front of heimdallr nodes on 127.0.0.1, for one test.
/// Its configuration is the repository's conf/haproxy.cfg rendered the way scripts/cluster renders
/// it (the `bind` line and the `server` lines replaced; checks and timeouts kept), plus an admin
/// socket in a temporary folder. The constructor waits until haproxy accepts connections; the
/// destructor stops it and removes the folder, even when a test fails. Not thread-safe.
///
///   ServerProcess a, b;
///   HaproxyProcess lb({a.port(), b.port()});
///   ASSERT_TRUE(lb.waitForServersUp());   // both passed GET /health
///   WsTestClient client(lb.port());
class HaproxyProcess {
 public:
  /// Servers are named node1..nodeN in the order of `nodePorts`.
  explicit HaproxyProcess(const std::vector<uint16_t>& nodePorts,
                          std::chrono::milliseconds startTimeout = std::chrono::seconds(10));
  ~HaproxyProcess();
  HaproxyProcess(const HaproxyProcess&) = delete;
  HaproxyProcess& operator=(const HaproxyProcess&) = delete;

  uint16_t port() const { return port_; }
  int pid() const { return handle_->id(); }
  const std::string& configPath() const { return configPath_; }
  /// Everything haproxy wrote so far (its request log goes to stdout).
  std::string log() const;

  /// haproxy's view of each server, from `show stat` on the admin socket: name -> "UP", "DOWN",
  /// "MAINT", "no check", ... Empty when the socket does not answer.
  std::map<std::string, std::string> serverStates() const;
  /// Polls serverStates() until every server is UP. False after `timeout`.
  bool waitForServersUp(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  /// SIGTERM (haproxy's hard stop), then waits for the exit code (SIGKILL after `timeout`).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void kill();

  static bool available();  // haproxy is on PATH
  /// The repository's conf/haproxy.cfg.
  static std::string templatePath();
  /// `templateText` with its `bind` lines set to `listen` ("host:port") and its `server` lines
  /// replaced, where the first one stood, by "server nodeK <nodeHost>:<port> <options of the first
  /// server line>" for each port. Byte for byte what `scripts/cluster haproxy-config` prints.
  static std::string renderConfig(const std::string& templateText, const std::string& listen,
                                  const std::string& nodeHost,
                                  const std::vector<uint16_t>& nodePorts);

  /// `haproxy -c -f path`: exit code (0 = valid) and output.
  struct CheckResult {
    int exitCode;
    std::string output;
  };
  static CheckResult checkConfig(const std::string& path);

 private:
  bool start(const std::vector<uint16_t>& nodePorts, std::chrono::milliseconds startTimeout);
  void readOutput();
  bool exitedEarly();
  std::string adminCommand(const std::string& command) const;

  std::string dir_;  // temporary folder: config and admin socket
  std::string configPath_;
  std::string socketPath_;
  uint16_t port_ = 0;
  std::unique_ptr<Poco::ProcessHandle> handle_;
  std::unique_ptr<Poco::Pipe> output_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string log_;
  bool exited_ = false;
};

}  // namespace heimdallr::test
