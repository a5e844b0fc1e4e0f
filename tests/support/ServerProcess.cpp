#include "support/ServerProcess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <regex>
#include <stdexcept>

#include "support/SanitizerReport.h"

namespace heimdallr::test {

namespace {
// A sanitized build reports on the server's stderr; without this the test would pass.
void failOnSanitizerReport(const std::string& output) {
  const std::string report = sanitizerReport(output);
  if (!report.empty()) ADD_FAILURE() << "heimdallr reported a sanitizer error:\n" << report;
}
}  // namespace

std::vector<std::string> ServerProcess::defaultArgs() {
  // The in-memory bus unless a test asks for another: a single node needs no Redis.
  return {"--config", std::string(HEIMDALLR_SOURCE_DIR) + "/conf/heimdallr.yaml", "--set",
          "server.host=127.0.0.1", "--set", "server.port=0", "--set", "bus.plugin=inmem",
          // A test's server stops at once: the drain spreads closes over at most a second.
          "--set", "server.drain_s=1", "--set",
          std::string("bus.plugin_dir=") + HEIMDALLR_PLUGIN_DIR};
}

ServerProcess::ServerProcess(std::vector<std::string> overrides,
                             std::chrono::milliseconds startTimeout) {
  std::vector<std::string> args = defaultArgs();
  for (auto& o : overrides) {
    args.push_back("--set");
    args.push_back(std::move(o));
  }
  output_ = std::make_unique<Poco::Pipe>();
  handle_ = std::make_unique<Poco::ProcessHandle>(
      Poco::Process::launch(HEIMDALLR_BINARY, args, nullptr, output_.get(), output_.get()));
  reader_ = std::thread([this] { readOutput(); });

  static const std::regex kListening("heimdallr listening on [^\\s]*:([0-9]+)");
  std::unique_lock lock(mutex_);
  std::smatch match;
  const bool ok = changed_.wait_for(
      lock, startTimeout, [&] { return eof_ || std::regex_search(log_, match, kListening); });
  if (!ok || eof_) {
    const std::string output = log_;
    lock.unlock();
    kill();
    if (reader_.joinable()) reader_.join();
    throw std::runtime_error("heimdallr did not start; output:\n" + output);
  }
  port_ = static_cast<uint16_t>(std::stoi(match[1].str()));
}

ServerProcess::~ServerProcess() {
  try {
    stop(std::chrono::seconds(10));
  } catch (...) {
  }
  if (reader_.joinable()) reader_.join();
  failOnSanitizerReport(log_);
}

void ServerProcess::readOutput() {
  char buffer[4096];
  int n;
  while ((n = output_->readBytes(buffer, sizeof buffer)) > 0) {
    std::lock_guard lock(mutex_);
    log_.append(buffer, static_cast<size_t>(n));
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  eof_ = true;
  changed_.notify_all();
}

int ServerProcess::stop(std::chrono::milliseconds timeout) {
  if (exited_) return exitCode_;
  signal(SIGTERM);
  const int code = waitForExit(timeout);
  if (code == -1) kill();
  return code;
}

void ServerProcess::signal(int signal) {
  if (!exited_) ::kill(handle_->id(), signal);
}

int ServerProcess::waitForExit(std::chrono::milliseconds timeout) {
  if (exited_) return exitCode_;
  const int pid = handle_->id();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited_ = true;
      exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exitCode_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void ServerProcess::kill() {
  if (exited_) return;
  ::kill(handle_->id(), SIGKILL);
  int status = 0;
  ::waitpid(handle_->id(), &status, 0);
  exited_ = true;
  exitCode_ = 128 + SIGKILL;
}

bool ServerProcess::waitForLog(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] {
    return log_.find(needle) != std::string::npos || eof_;
  }) && log_.find(needle) != std::string::npos;
}

std::string ServerProcess::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

long ServerProcess::procStatusField(const std::string& field) const {
  std::ifstream status("/proc/" + std::to_string(handle_->id()) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

long ServerProcess::threadCount() const { return procStatusField("Threads"); }
long ServerProcess::rssKiB() const { return procStatusField("VmRSS"); }

ServerProcess::Outcome ServerProcess::runToExit(const std::vector<std::string>& args,
                                                std::chrono::milliseconds timeout,
                                                const Poco::Process::Env& env) {
  Poco::Pipe output;
  Poco::ProcessHandle handle =
      Poco::Process::launch(HEIMDALLR_BINARY, args, std::string(), nullptr, &output, &output, env);
  std::string text;
  std::thread reader([&] {
    char buffer[4096];
    int n;
    while ((n = output.readBytes(buffer, sizeof buffer)) > 0) {
      text.append(buffer, static_cast<size_t>(n));
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  int code = -1;
  for (;;) {
    if (::waitpid(handle.id(), &status, WNOHANG) == handle.id()) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(handle.id(), SIGKILL);
      ::waitpid(handle.id(), &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  reader.join();
  failOnSanitizerReport(text);
  return {code, text};
}

}  // namespace heimdallr::test
