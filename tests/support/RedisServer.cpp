#include "support/RedisServer.h"

#include <Poco/Net/StreamSocket.h>
#include <signal.h>
#include <sys/wait.h>

#include <stdexcept>
#include <thread>

#include "support/FreePort.h"

namespace heimdallr::test {

RedisServer::RedisServer(uint16_t port, std::vector<std::string> extraArgs)
    : port_(port != 0 ? port : freeLoopbackPort()), extraArgs_(std::move(extraArgs)) {
  start();
}

RedisServer::~RedisServer() {
  if (running_) {
    ::kill(handle_->id(), SIGCONT);
    kill();
  }
}

bool RedisServer::available() {
  return std::system("command -v redis-server >/dev/null 2>&1") == 0;
}

void RedisServer::start() {
  std::vector<std::string> args = {"--port",           std::to_string(port_),
                                   "--bind",           "127.0.0.1",
                                   "--save",           "",
                                   "--appendonly",     "no",
                                   "--daemonize",      "no",
                                   "--loglevel",       "warning",
                                   "--protected-mode", "no",
                                   "--logfile",        "/dev/null"};
  args.insert(args.end(), extraArgs_.begin(), extraArgs_.end());
  handle_ = std::make_unique<Poco::ProcessHandle>(
      Poco::Process::launch("redis-server", args, nullptr, nullptr, nullptr));
  running_ = true;
  if (!answersPing(std::chrono::seconds(10))) {
    kill();
    throw std::runtime_error("redis-server did not answer on port " + std::to_string(port_));
  }
}

bool RedisServer::answersPing(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      const std::string reply = command("PING");
      // A password-protected server answers -NOAUTH: it is up all the same.
      if (reply.rfind("+PONG", 0) == 0 || reply.rfind("-NOAUTH", 0) == 0) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string RedisServer::command(const std::string& inlineCommand) {
  Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", port_));
  socket.setReceiveTimeout(Poco::Timespan(2, 0));
  const std::string line = inlineCommand + "\r\n";
  socket.sendBytes(line.data(), static_cast<int>(line.size()));
  char buffer[4096];
  const int n = socket.receiveBytes(buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
}

void RedisServer::kill() {
  if (!running_) return;
  ::kill(handle_->id(), SIGKILL);
  int status = 0;
  ::waitpid(handle_->id(), &status, 0);
  running_ = false;
}

void RedisServer::restart() {
  kill();
  start();
}

void RedisServer::pause() { ::kill(handle_->id(), SIGSTOP); }
void RedisServer::resume() { ::kill(handle_->id(), SIGCONT); }

}  // namespace heimdallr::test
