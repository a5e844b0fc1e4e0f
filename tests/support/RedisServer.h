#pragma once

#include <Poco/Process.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace heimdallr::test {

/// A real redis-server on a free 127.0.0.1 port, without persistence, for one test. Started in
/// the constructor (waits until it answers PING), stopped in the destructor even when the test
/// fails. kill()/restart() simulate an outage on the same port. Not thread-safe.
class RedisServer {
 public:
  /// `port` 0 picks a free one; `extraArgs` go to redis-server (e.g. {"--requirepass", "s3"}).
  explicit RedisServer(uint16_t port = 0, std::vector<std::string> extraArgs = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  uint16_t port() const { return port_; }
  /// SIGKILL: the crash case.
  void kill();
  /// Starts again on the same port and waits for PING.
  void restart();
  /// SIGSTOP / SIGCONT: the hung-server case.
  void pause();
  void resume();

  /// Sends one inline command (e.g. "PUBSUB NUMSUB x") and returns the raw RESP reply.
  std::string command(const std::string& inlineCommand);

  static bool available();  // redis-server is on PATH

 private:
  void start();
  bool answersPing(std::chrono::milliseconds timeout);

  uint16_t port_ = 0;
  std::vector<std::string> extraArgs_;
  std::unique_ptr<Poco::ProcessHandle> handle_;
  bool running_ = false;
};

}  // namespace heimdallr::test
