#pragma once

#include <Poco/Pipe.h>
#include <Poco/Process.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace heimdallr::test {

/// The real heimdallr binary, started on 127.0.0.1 port 0 with the repository's config and the
/// given `--set` overrides. The constructor waits for the "listening on" log line (readiness, not
/// a sleep); the destructor stops the process even when a test fails. Not thread-safe.
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> overrides = {},
                         std::chrono::milliseconds startTimeout = std::chrono::seconds(15));
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  int pid() const { return handle_->id(); }

  /// SIGTERM, then waits for the exit code (SIGKILL after `timeout`).
  int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void kill();
  /// Sends `signal` and returns at once (stop() sends SIGTERM and waits).
  void signal(int signal);
  /// Waits for the process to exit by itself: its exit code (128 + signal if a signal ended it),
  /// or -1 if it is still running after `timeout`.
  int waitForExit(std::chrono::milliseconds timeout);

  /// True once a log line containing `needle` has appeared, or false after `timeout`.
  bool waitForLog(const std::string& needle, std::chrono::milliseconds timeout);
  std::string log() const;

  /// Threads and resident memory of the server process, from /proc.
  long threadCount() const;
  long rssKiB() const;

  /// Runs the binary to completion with `args` and returns its exit code and its output.
  struct Outcome {
    int exitCode;
    std::string output;
  };
  /// `env` is added to the inherited environment.
  static Outcome runToExit(const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout = std::chrono::seconds(15),
                           const Poco::Process::Env& env = {});
  /// The default arguments: the repository config, loopback, port 0, the built plugins.
  static std::vector<std::string> defaultArgs();

 private:
  void readOutput();
  long procStatusField(const std::string& field) const;

  std::unique_ptr<Poco::ProcessHandle> handle_;
  std::unique_ptr<Poco::Pipe> output_;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
  bool eof_ = false;
  bool exited_ = false;
  int exitCode_ = 0;
  uint16_t port_ = 0;
};

}  // namespace heimdallr::test
