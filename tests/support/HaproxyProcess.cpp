#include "support/HaproxyProcess.h"

#include <Poco/Net/StreamSocket.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "support/FreePort.h"

namespace heimdallr::test {

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> splitCsv(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  return fields;
}

bool acceptsConnections(uint16_t port) {
  try {
    Poco::Net::StreamSocket socket;
    socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(0, 500000));
    return true;
  } catch (const Poco::Exception&) {
    return false;
  }
}

}  // namespace

std::string HaproxyProcess::templatePath() {
  return std::string(HEIMDALLR_SOURCE_DIR) + "/conf/haproxy.cfg";
}

bool HaproxyProcess::available() { return std::system("command -v haproxy >/dev/null 2>&1") == 0; }

std::string HaproxyProcess::renderConfig(const std::string& templateText, const std::string& listen,
                                         const std::string& nodeHost,
                                         const std::vector<uint16_t>& nodePorts) {
  // The same rules as render_haproxy in scripts/cluster (an awk program).
  static const std::regex kBind("^([ \t]*)bind[ \t].*");
  static const std::regex kServer("^([ \t]*)server[ \t].*");
  std::string out;
  bool serversDone = false;
  for (const std::string& line : splitLines(templateText)) {
    std::smatch match;
    if (std::regex_match(line, match, kBind)) {
      out += match[1].str() + "bind " + listen + "\n";
    } else if (std::regex_match(line, match, kServer)) {
      if (serversDone) continue;
      std::istringstream fields(line);
      std::vector<std::string> tokens;
      for (std::string token; fields >> token;) tokens.push_back(token);
      std::string options;
      for (size_t i = 3; i < tokens.size(); ++i) options += " " + tokens[i];
      for (size_t k = 0; k < nodePorts.size(); ++k) {
        out += match[1].str() + "server node" + std::to_string(k + 1) + " " + nodeHost + ":" +
               std::to_string(nodePorts[k]) + options + "\n";
      }
      serversDone = true;
    } else {
      out += line + "\n";
    }
  }
  return out;
}

HaproxyProcess::CheckResult HaproxyProcess::checkConfig(const std::string& path) {
  Poco::Pipe output;
  Poco::ProcessHandle handle =
      Poco::Process::launch("haproxy", {"-c", "-f", path}, nullptr, &output, &output);
  std::string text;
  char buffer[4096];
  int n;
  while ((n = output.readBytes(buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
  }
  return {handle.wait(), text};
}

HaproxyProcess::HaproxyProcess(const std::vector<uint16_t>& nodePorts,
                               std::chrono::milliseconds startTimeout) {
  char dirTemplate[] = "/tmp/heimdallr-haproxy-XXXXXX";
  if (::mkdtemp(dirTemplate) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dirTemplate;
  configPath_ = dir_ + "/haproxy.cfg";
  socketPath_ = dir_ + "/admin.sock";
  try {
    // The free port may be taken between probing and haproxy's bind: try a few ports.
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (start(nodePorts, startTimeout)) return;
      const std::string output = log();
      if (output.find("cannot bind") == std::string::npos &&
          output.find("Address already in use") == std::string::npos) {
        throw std::runtime_error("haproxy did not start with " + configPath_ + "; output:\n" +
                                 output);
      }
    }
    throw std::runtime_error("haproxy found no free port to bind");
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

HaproxyProcess::~HaproxyProcess() {
  try {
    stop(std::chrono::seconds(10));
  } catch (...) {
  }
  if (reader_.joinable()) reader_.join();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool HaproxyProcess::start(const std::vector<uint16_t>& nodePorts,
                           std::chrono::milliseconds startTimeout) {
  if (reader_.joinable()) reader_.join();  // a failed earlier attempt
  port_ = freeLoopbackPort();
  std::string config = renderConfig(readFile(templatePath()), "127.0.0.1:" + std::to_string(port_),
                                    "127.0.0.1", nodePorts);
  // The admin socket, for serverStates(): right after the `global` line.
  static const std::regex kGlobal("(^|\n)global[ \t]*\n");
  config = std::regex_replace(
      config, kGlobal, "$1global\n    stats socket " + socketPath_ + " mode 600 level user\n",
      std::regex_constants::format_first_only);
  std::ofstream(configPath_, std::ios::trunc) << config;

  {
    std::lock_guard lock(mutex_);
    log_.clear();
    exited_ = false;
  }
  output_ = std::make_unique<Poco::Pipe>();
  handle_ = std::make_unique<Poco::ProcessHandle>(Poco::Process::launch(
      "haproxy", {"-db", "-f", configPath_}, nullptr, output_.get(), output_.get()));
  reader_ = std::thread([this] { readOutput(); });

  const auto deadline = std::chrono::steady_clock::now() + startTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exitedEarly()) return false;
    if (acceptsConnections(port_) && !adminCommand("show info").empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill();
  if (reader_.joinable()) reader_.join();  // a throwing constructor runs no destructor
  throw std::runtime_error("haproxy did not accept connections on port " + std::to_string(port_) +
                           " within the start timeout; output:\n" + log());
}

void HaproxyProcess::readOutput() {
  char buffer[4096];
  int n;
  while ((n = output_->readBytes(buffer, sizeof buffer)) > 0) {
    std::lock_guard lock(mutex_);
    log_.append(buffer, static_cast<size_t>(n));
  }
}

std::string HaproxyProcess::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

bool HaproxyProcess::exitedEarly() {
  int status = 0;
  if (!exited_ && ::waitpid(handle_->id(), &status, WNOHANG) == handle_->id()) exited_ = true;
  if (exited_ && reader_.joinable()) reader_.join();  // the whole output, for the error message
  return exited_;
}

std::string HaproxyProcess::adminCommand(const std::string& command) const {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socketPath_.c_str(), sizeof address.sun_path - 1);
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string line = command + "\n";
    if (::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size())) {
      char buffer[8192];
      ssize_t n;
      while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
        reply.append(buffer, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return reply;
}

std::map<std::string, std::string> HaproxyProcess::serverStates() const {
  std::map<std::string, std::string> states;
  const std::vector<std::string> lines = splitLines(adminCommand("show stat"));
  if (lines.empty() || lines[0].rfind("# ", 0) != 0) return states;
  const std::vector<std::string> header = splitCsv(lines[0].substr(2));
  size_t nameColumn = header.size(), statusColumn = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "svname") nameColumn = i;
    if (header[i] == "status") statusColumn = i;
  }
  if (nameColumn == header.size() || statusColumn == header.size()) return states;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> row = splitCsv(lines[i]);
    if (row.size() <= statusColumn) continue;
    const std::string& name = row[nameColumn];
    if (name == "FRONTEND" || name == "BACKEND") continue;
    states[name] = row[statusColumn];
  }
  return states;
}

bool HaproxyProcess::waitForServersUp(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto states = serverStates();
    bool allUp = !states.empty();
    for (const auto& [name, state] : states) allUp = allUp && state == "UP";
    if (allUp) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int HaproxyProcess::stop(std::chrono::milliseconds timeout) {
  if (!handle_ || exited_) return 0;
  const int pid = handle_->id();
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
  return -1;
}

void HaproxyProcess::kill() {
  if (!handle_ || exited_) return;
  ::kill(handle_->id(), SIGKILL);
  int status = 0;
  ::waitpid(handle_->id(), &status, 0);
  exited_ = true;
}

}  // namespace heimdallr::test
