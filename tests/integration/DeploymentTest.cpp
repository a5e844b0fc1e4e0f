// The deployment pieces: docker-compose.yml, the Dockerfile, conf/haproxy.cfg and scripts/cluster.
// What can run here runs for real (haproxy, redis-server, the local cluster end to end); what needs
// a Docker engine is checked statically (docker-compose config, and agreement with the local
// cluster that does run).
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Pipe.h>
#include <Poco/Process.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "support/FreePort.h"
#include "support/HaproxyProcess.h"
#include "support/SanitizerReport.h"
#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kRoot = HEIMDALLR_SOURCE_DIR;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

bool onPath(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

struct CommandResult {
  int exitCode = -1;
  std::string output;  // stdout and stderr together
};

/// Runs `argv` in the repository root and waits for it (SIGKILL after `timeout`).
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds timeout = 120s) {
  Poco::Pipe output;
  Poco::ProcessHandle handle =
      Poco::Process::launch(argv[0], std::vector<std::string>(argv.begin() + 1, argv.end()), kRoot,
                            nullptr, &output, &output);
  CommandResult result;
  std::thread reader([&] {
    char buffer[4096];
    int n;
    while ((n = output.readBytes(buffer, sizeof buffer)) > 0) {
      result.output.append(buffer, static_cast<size_t>(n));
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    if (::waitpid(handle.id(), &status, WNOHANG) == handle.id()) {
      result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(handle.id(), SIGKILL);
      ::waitpid(handle.id(), &status, 0);
      result.output += "\n[killed after the test's timeout]";
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  reader.join();
  return result;
}

/// scripts/cluster with exactly `env` for its settings (inherited ones are removed first).
CommandResult runCluster(const std::map<std::string, std::string>& env,
                         const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = 120s) {
  std::vector<std::string> argv = {"/usr/bin/env"};
  for (const char* name : {"BASE_PORT", "LB_PORT", "LB_HOST", "REDIS_PORT", "REDIS_URL",
                           "BUS_PLUGIN", "CLUSTER_DIR", "BUILD_DIR", "START_TIMEOUT"}) {
    argv.insert(argv.end(), {"-u", name});
  }
  for (const auto& [name, value] : env) argv.push_back(name + "=" + value);
  argv.push_back(kRoot + "/scripts/cluster");
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, timeout);
}

/// A node's start arguments: `--config FILE` as "config", each `--set key=value` as key -> value.
std::map<std::string, std::string> serverArguments(const std::vector<std::string>& args) {
  std::map<std::string, std::string> parsed;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--config") {
      parsed["config"] = args[++i];
    } else if (args[i] == "--set") {
      const std::string& assignment = args[++i];
      const auto eq = assignment.find('=');
      if (eq != std::string::npos) parsed[assignment.substr(0, eq)] = assignment.substr(eq + 1);
    }
  }
  return parsed;
}

/// The pieces of conf/haproxy.cfg the other files must agree with.
struct HaproxyTopology {
  std::string bind;                   // "*:8000"
  std::string healthPath;             // from `option httpchk GET <path>`
  std::string expectStatus;           // from `http-check expect status <code>`
  std::vector<std::string> timeouts;  // "tunnel 1h", ...
  struct Server {
    std::string name, host;
    int port;
  };
  std::vector<Server> servers;
};

HaproxyTopology parseHaproxy(const std::string& text) {
  HaproxyTopology topology;
  static const std::regex kServer(R"(^\s*server\s+(\S+)\s+([^\s:]+):(\d+)\b.*)");
  static const std::regex kHealth(R"(^\s*option\s+httpchk\s+GET\s+(\S+).*)");
  static const std::regex kExpect(R"(^\s*http-check\s+expect\s+status\s+(\S+).*)");
  static const std::regex kBind(R"(^\s*bind\s+(\S+).*)");
  static const std::regex kTimeout(R"(^\s*timeout\s+(\S+\s+\S+).*)");
  for (const std::string& line : lines(text)) {
    std::smatch m;
    if (std::regex_match(line, m, kServer)) {
      topology.servers.push_back({m[1], m[2], std::stoi(m[3])});
    } else if (std::regex_match(line, m, kHealth)) {
      topology.healthPath = m[1];
    } else if (std::regex_match(line, m, kExpect)) {
      topology.expectStatus = m[1];
    } else if (std::regex_match(line, m, kBind)) {
      topology.bind = m[1];
    } else if (std::regex_match(line, m, kTimeout)) {
      topology.timeouts.push_back(m[1]);
    }
  }
  return topology;
}

/// A compose health check's GET path and port, from its /dev/tcp probe.
struct ProbeTarget {
  std::string path;
  int port = 0;
};
ProbeTarget healthProbe(const YAML::Node& service) {
  std::string command;
  for (const auto& part : service["healthcheck"]["test"]) command += part.as<std::string>() + " ";
  ProbeTarget target;
  std::smatch m;
  if (std::regex_search(command, m, std::regex(R"(/dev/tcp/[^/\s]+/(\d+))"))) {
    target.port = std::stoi(m[1]);
  }
  if (std::regex_search(command, m, std::regex(R"(GET (\S+) HTTP)"))) target.path = m[1];
  return target;
}

/// The packages of the first `apt-get install` after `stageMarker` ("AS runtime") in a Dockerfile.
std::set<std::string> aptInstalled(const std::string& dockerfile, const std::string& stageMarker) {
  const auto start = dockerfile.find(stageMarker);
  if (start == std::string::npos) return {};
  const std::string stage = std::regex_replace(dockerfile.substr(start), std::regex("\\\\\n"), " ");
  std::smatch m;
  if (!std::regex_search(stage, m, std::regex("apt-get install ([^&]*)&&"))) return {};
  std::set<std::string> packages;
  for (const auto& word : words(m[1])) {
    if (word[0] != '-') packages.insert(word);
  }
  return packages;
}

/// True when no live process has that pid any more (a zombie counts as gone: this process is not
/// its parent, and whoever inherited it may be slow to reap).
bool processGone(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() || text[paren + 2] == 'Z' ||
         text[paren + 2] == 'X';
}

/// Live processes whose command line contains any of `needles`.
std::vector<std::string> processesMatching(const std::vector<std::string>& needles) {
  std::vector<std::string> found;
  std::error_code error;
  for (fs::directory_iterator it("/proc", error), end; !error && it != end; it.increment(error)) {
    const fs::directory_entry& entry = *it;
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = readFile(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.empty() || processGone(std::stoi(name))) continue;
    for (const auto& needle : needles) {
      if (cmdline.find(needle) != std::string::npos) {
        found.push_back(name + ": " + cmdline);
        break;
      }
    }
  }
  return found;
}

bool portFree(uint16_t port) {
  try {
    Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", port));
    return true;
  } catch (const Poco::Exception&) {
    return false;
  }
}

bool acceptsConnections(uint16_t port) {
  try {
    Poco::Net::StreamSocket socket;
    socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(1, 0));
    return true;
  } catch (const Poco::Exception&) {
    return false;
  }
}

/// A `scripts/cluster` run on free loopback ports with its run dir in a temporary folder. The
/// destructor runs `scripts/cluster down`, then SIGKILLs whatever the pid files named that still
/// lives, and removes the folder, so a failing test leaves nothing behind. Not thread-safe.
class LocalCluster {
 public:
  LocalCluster(int nodes, const std::string& busPlugin) : nodes_(nodes) {
    char dirTemplate[] = "/tmp/heimdallr-cluster-XXXXXX";
    if (::mkdtemp(dirTemplate) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dirTemplate;
    // Consecutive free node ports, then the load balancer's and Redis's outside that range.
    // Candidates come from below the ephemeral range (32768+): a run of ephemeral ports is often
    // broken by client sockets of earlier tests (the scale test leaves thousands in TIME_WAIT).
    std::mt19937 random{std::random_device{}()};
    std::uniform_int_distribution<int> candidate(20000, 32000);
    for (int attempt = 0; attempt < 200 && basePort_ == 0; ++attempt) {
      const auto first = static_cast<uint16_t>(candidate(random));
      if (!portFree(first)) continue;
      bool free = true;
      for (int k = 1; k < nodes && free; ++k) free = portFree(static_cast<uint16_t>(first + k));
      if (free) basePort_ = first;
    }
    if (basePort_ == 0) throw std::runtime_error("no run of free ports");
    lbPort_ = otherFreePort();
    redisPort_ = otherFreePort();
    env_ = {{"BASE_PORT", std::to_string(basePort_)},
            {"LB_PORT", std::to_string(lbPort_)},
            {"REDIS_PORT", std::to_string(redisPort_)},
            {"CLUSTER_DIR", dir_},
            {"BUS_PLUGIN", busPlugin},
            {"BUILD_DIR", fs::path(HEIMDALLR_PLUGIN_DIR).parent_path().string()},
            {"START_TIMEOUT", "30"}};
  }

  ~LocalCluster() {
    if (::testing::Test::HasFailure()) dumpLogs();
    const CommandResult down = run({"down"});
    if (down.exitCode != 0) std::cerr << "scripts/cluster down failed:\n" << down.output << "\n";
    for (int pid : started_) {
      if (!processGone(pid)) ::kill(pid, SIGKILL);
    }
    std::error_code ignored;
    // A sanitized build (scripts/test-sanitizers) reports in the nodes' logs, which only we read.
    for (const auto& file : fs::directory_iterator(fs::path(dir_) / "logs", ignored)) {
      const std::string report = sanitizerReport(readFile(file.path().string()));
      if (!report.empty()) ADD_FAILURE() << file.path().filename() << ": " << report;
    }
    fs::remove_all(dir_, ignored);
  }

  CommandResult run(const std::vector<std::string>& args) {
    CommandResult result = runCluster(env_, args);
    // Remember every pid the run dir names, for the last-resort kill.
    const fs::path pids = fs::path(dir_) / "pids";
    if (fs::is_directory(pids)) {
      for (const auto& entry : fs::directory_iterator(pids)) {
        std::istringstream in(readFile(entry.path()));
        int pid = 0;
        if (in >> pid && pid > 1) started_.insert(pid);
      }
    }
    return result;
  }

  /// name ("node1", "haproxy", "redis") -> pid, from the run dir.
  std::map<std::string, int> recordedPids() const {
    std::map<std::string, int> pids;
    const fs::path dir = fs::path(dir_) / "pids";
    if (!fs::is_directory(dir)) return pids;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::istringstream in(readFile(entry.path()));
      int pid = 0;
      if (in >> pid) pids[entry.path().stem().string()] = pid;
    }
    return pids;
  }

  /// Command-line fragments only this cluster's processes carry.
  std::vector<std::string> processNeedles() const {
    std::vector<std::string> needles = {dir_};
    for (int k = 0; k < nodes_; ++k) {
      // The arguments are joined with spaces: the trailing one keeps 8001 from matching 80011.
      needles.push_back("server.port=" + std::to_string(basePort_ + k) + " ");
    }
    return needles;
  }

  uint16_t nodePort(int k) const { return static_cast<uint16_t>(basePort_ + k - 1); }
  uint16_t lbPort() const { return lbPort_; }
  uint16_t redisPort() const { return redisPort_; }
  const std::string& dir() const { return dir_; }
  const std::map<std::string, std::string>& env() const { return env_; }

 private:
  uint16_t otherFreePort() {
    for (;;) {
      const uint16_t port = freeLoopbackPort();
      const bool inRange = port >= basePort_ && port < basePort_ + nodes_;
      if (!inRange && port != lbPort_ && port != redisPort_) return port;
    }
  }

  void dumpLogs() const {
    const fs::path logs = fs::path(dir_) / "logs";
    if (!fs::is_directory(logs)) return;
    for (const auto& entry : fs::directory_iterator(logs)) {
      std::cerr << "---- " << entry.path().string() << " ----\n" << readFile(entry.path()) << "\n";
    }
  }

  int nodes_;
  std::string dir_;
  uint16_t basePort_ = 0, lbPort_ = 0, redisPort_ = 0;
  std::map<std::string, std::string> env_;
  std::set<int> started_;
};

/// Reads frames until every text in `wanted` has arrived (others are ignored); returns the missing.
std::set<std::string> receiveAll(WsTestClient& client, std::set<std::string> wanted,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!wanted.empty() && std::chrono::steady_clock::now() < deadline) {
    auto frame = client.receive(100ms);
    if (frame) wanted.erase(frame->payload);
  }
  return wanted;
}

std::string uniqueRoom(const std::string& prefix) {
  return prefix + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

/// `scripts/cluster up 2` on free ports: clients through HAProxy land on both nodes, messages
/// reach the room (across nodes when `acrossNodes`), `status` and `down` work, nothing is left.
void exerciseTwoNodeCluster(LocalCluster& cluster, bool acrossNodes) {
  const CommandResult up = cluster.run({"up", "2"});
  ASSERT_EQ(0, up.exitCode) << up.output;
  EXPECT_NE(std::string::npos, up.output.find("127.0.0.1:" + std::to_string(cluster.lbPort())))
      << up.output;
  EXPECT_NE(std::string::npos, up.output.find(cluster.dir() + "/logs/node1.log")) << up.output;

  const auto pids = cluster.recordedPids();
  std::set<std::string> expectedParts = {"node1", "node2", "haproxy"};
  if (acrossNodes) expectedParts.insert("redis");
  std::set<std::string> parts;
  for (const auto& [name, pid] : pids) parts.insert(name);
  ASSERT_EQ(expectedParts, parts);
  for (const auto& [name, pid] : pids) {
    EXPECT_NE(std::string::npos, up.output.find(std::to_string(pid))) << name << "\n" << up.output;
  }

  // Each node is who the script says, on its port.
  EXPECT_EQ("node1", fetchStats(cluster.nodePort(1)).node);
  EXPECT_EQ("node2", fetchStats(cluster.nodePort(2)).node);
  const CommandResult status = cluster.run({"status"});
  EXPECT_EQ(0, status.exitCode) << status.output;
  for (const auto& part : expectedParts) {
    EXPECT_NE(std::string::npos, status.output.find(part)) << status.output;
  }

  // Four WebSockets through HAProxy: round robin puts two on each node.
  const std::string room = uniqueRoom("deploy");
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(cluster.lbPort()));
    ASSERT_EQ(101, clients.back()->handshake("/" + room)) << clients.back()->responseHead();
  }
  EXPECT_EQ(2, waitForRoomMembers(cluster.nodePort(1), room, 2));
  EXPECT_EQ(2, waitForRoomMembers(cluster.nodePort(2), room, 2));

  if (acrossNodes) {
    // A room's bus subscription is made asynchronously when its first local member joins. Probe
    // until every client has heard every other one, so the test does not race it.
    std::vector<std::set<int>> heard(clients.size());
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    auto everyoneHeardEveryone = [&] {
      for (const auto& senders : heard) {
        if (senders.size() < clients.size()) return false;
      }
      return true;
    };
    while (!everyoneHeardEveryone() && std::chrono::steady_clock::now() < deadline) {
      for (size_t i = 0; i < clients.size(); ++i) {
        clients[i]->sendText("probe " + std::to_string(i));
      }
      for (size_t i = 0; i < clients.size(); ++i) {
        while (auto frame = clients[i]->receive(50ms)) {
          if (frame->payload.rfind("probe ", 0) == 0) {
            heard[i].insert(std::stoi(frame->payload.substr(6)));
          }
        }
      }
    }
    ASSERT_TRUE(everyoneHeardEveryone()) << "clients on different nodes never heard each other";
  }

  std::set<std::string> messages;
  for (size_t i = 0; i < clients.size(); ++i) {
    messages.insert("hello from client " + std::to_string(i));
    clients[i]->sendText("hello from client " + std::to_string(i));
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    if (acrossNodes) {
      EXPECT_EQ(std::set<std::string>{}, receiveAll(*clients[i], messages, 10s)) << "client " << i;
    } else {
      // inmem: a node relays to its own members only; everyone hears at least itself.
      EXPECT_EQ(std::set<std::string>{},
                receiveAll(*clients[i], {"hello from client " + std::to_string(i)}, 10s))
          << "client " << i;
    }
  }
  clients.clear();

  const CommandResult down = cluster.run({"down"});
  EXPECT_EQ(0, down.exitCode) << down.output;
  for (const auto& [name, pid] : pids) EXPECT_TRUE(processGone(pid)) << name << " pid " << pid;
  EXPECT_EQ(std::vector<std::string>{}, processesMatching(cluster.processNeedles()));
  EXPECT_FALSE(acceptsConnections(cluster.lbPort()));
  EXPECT_FALSE(acceptsConnections(cluster.nodePort(1)));
  EXPECT_FALSE(acceptsConnections(cluster.nodePort(2)));
  if (acrossNodes) {
    EXPECT_FALSE(acceptsConnections(cluster.redisPort()));
  }

  const CommandResult again = cluster.run({"down"});
  EXPECT_EQ(0, again.exitCode) << again.output;
  EXPECT_NE(std::string::npos, again.output.find("nothing running")) << again.output;
  const CommandResult stopped = cluster.run({"status"});
  EXPECT_EQ(3, stopped.exitCode) << stopped.output;
}

}  // namespace

// ---- docker-compose.yml: valid, and the same topology as the local cluster ----------------------

TEST(DeploymentCompose, docker_compose_config_accepts_the_file) {
  if (!onPath("docker-compose")) GTEST_SKIP() << "docker-compose is not installed";
  const CommandResult result =
      runCommand({"docker-compose", "-f", kRoot + "/docker-compose.yml", "config"}, 60s);
  EXPECT_EQ(0, result.exitCode) << result.output;
}

TEST(DeploymentCompose, mirrors_haproxy_cfg_and_the_local_cluster_script) {
  const YAML::Node compose = YAML::LoadFile(kRoot + "/docker-compose.yml");
  const YAML::Node services = compose["services"];
  ASSERT_TRUE(services && services.IsMap());
  const HaproxyTopology haproxy = parseHaproxy(readFile(HaproxyProcess::templatePath()));

  // What scripts/cluster runs with its defaults (`up` with no count starts 3 nodes).
  const CommandResult plan = runCluster({}, {"plan"});
  ASSERT_EQ(0, plan.exitCode) << plan.output;
  std::map<std::string, std::map<std::string, std::string>> localNodes;  // node -> arguments
  std::map<std::string, int> localPorts;
  std::string localLb, localHealth, localRedis;
  for (const std::string& line : lines(plan.output)) {
    const std::vector<std::string> w = words(line);
    if (w.size() >= 4 && w[0] == "node") {
      localNodes[w[1]] = serverArguments(std::vector<std::string>(w.begin() + 4, w.end()));
      localPorts[w[1]] = std::stoi(w[2].substr(w[2].rfind(':') + 1));
    } else if (w.size() >= 3 && w[0] == "lb") {
      localLb = w[1];
      EXPECT_EQ("conf/haproxy.cfg", w[2]);
    } else if (w.size() >= 2 && w[0] == "health") {
      localHealth = w[1];
    } else if (w.size() >= 2 && w[0] == "redis") {
      localRedis = w[1];
    }
  }

  // The nodes: the same names, ports, config file and bus in all three places.
  std::vector<std::string> composeNodes;
  for (const auto& service : services) {
    const auto name = service.first.as<std::string>();
    if (std::regex_match(name, std::regex("node[0-9]+"))) composeNodes.push_back(name);
  }
  ASSERT_EQ(3u, composeNodes.size());
  ASSERT_EQ(composeNodes.size(), localNodes.size()) << plan.output;
  ASSERT_EQ(composeNodes.size(), haproxy.servers.size());
  for (size_t i = 0; i < composeNodes.size(); ++i) {
    const std::string node = "node" + std::to_string(i + 1);
    SCOPED_TRACE(node);
    const YAML::Node service = services[node];
    ASSERT_TRUE(service) << "docker-compose.yml has no service " << node;
    const auto composeArgs = serverArguments(service["command"].as<std::vector<std::string>>());
    ASSERT_TRUE(localNodes.count(node)) << plan.output;
    const auto& localArgs = localNodes[node];

    EXPECT_EQ("conf/heimdallr.yaml", composeArgs.at("config"));
    EXPECT_EQ(composeArgs.at("config"), localArgs.at("config"));
    EXPECT_EQ(node, composeArgs.at("server.node_id"));
    EXPECT_EQ(node, localArgs.at("server.node_id"));
    const int port = std::stoi(composeArgs.at("server.port"));
    EXPECT_EQ(8001 + static_cast<int>(i), port);
    EXPECT_EQ(composeArgs.at("server.port"), localArgs.at("server.port"));
    EXPECT_EQ(port, localPorts[node]);
    EXPECT_EQ("redis", composeArgs.at("bus.plugin"));
    EXPECT_EQ(composeArgs.at("bus.plugin"), localArgs.at("bus.plugin"));
    EXPECT_EQ("redis", composeArgs.at("bus.redis.host"));  // the compose service name
    EXPECT_EQ(composeArgs.at("bus.redis.port"), localArgs.at("bus.redis.port"));
    EXPECT_EQ(localRedis, "127.0.0.1:" + localArgs.at("bus.redis.port"));

    // HAProxy reaches it by service name on the same port, and everyone checks the same path.
    EXPECT_EQ(node, haproxy.servers[i].name);
    EXPECT_EQ(node, haproxy.servers[i].host);
    EXPECT_EQ(port, haproxy.servers[i].port);
    const ProbeTarget probe = healthProbe(service);
    EXPECT_EQ(port, probe.port);
    EXPECT_EQ(haproxy.healthPath, probe.path);
    const auto exposed = service["expose"].as<std::vector<std::string>>();
    EXPECT_EQ(std::vector<std::string>{std::to_string(port)}, exposed);
  }
  EXPECT_TRUE(services["redis"]);

  // The load balancer: conf/haproxy.cfg mounted, :8000 published, /health checked.
  const YAML::Node lb = services["haproxy"];
  ASSERT_TRUE(lb);
  bool mountsConfig = false;
  for (const auto& volume : lb["volumes"]) {
    mountsConfig |= volume.as<std::string>().rfind("./conf/haproxy.cfg:", 0) == 0;
  }
  EXPECT_TRUE(mountsConfig) << "the haproxy service must mount ./conf/haproxy.cfg";
  ASSERT_EQ(1u, lb["ports"].size());
  EXPECT_EQ("8000:8000", lb["ports"][0].as<std::string>());
  EXPECT_EQ("*:8000", haproxy.bind);
  EXPECT_EQ("127.0.0.1:8000", localLb);
  EXPECT_EQ(8000, healthProbe(lb).port);
  EXPECT_EQ("/health", haproxy.healthPath);
  EXPECT_EQ("200", haproxy.expectStatus);
  EXPECT_EQ(haproxy.healthPath, localHealth);
  EXPECT_EQ(haproxy.healthPath, healthProbe(lb).path);
}

// ---- Dockerfile: the runtime stage carries what the built binaries load -------------------------

TEST(DeploymentDockerfile, build_stage_installs_the_build_packages_scripts_setup_installs) {
  const std::string dockerfile = readFile(kRoot + "/Dockerfile");
  ASSERT_NE(std::string::npos, dockerfile.find("FROM debian:bookworm AS build"));
  ASSERT_NE(std::string::npos, dockerfile.find("-DHEIMDALLR_BUILD_TESTS=OFF"));
  const std::set<std::string> installed = aptInstalled(dockerfile, "AS build");
  ASSERT_FALSE(installed.empty());

  // scripts/setup's PACKAGES: the toolchain and every -dev package but those only tests use (the
  // test framework, and clang's sanitizer and libFuzzer runtime for scripts/fuzz).
  const std::string setup = readFile(kRoot + "/scripts/setup");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(setup, m, std::regex(R"(PACKAGES=\(([^)]*)\))")));
  int checked = 0;
  for (const std::string& package :
       words(std::regex_replace(m[1].str(), std::regex("#[^\n]*"), ""))) {
    const bool toolchain =
        package == "cmake" || package == "g++" || package == "make" || package == "pkg-config";
    const bool library = package.size() > 4 && package.ends_with("-dev") &&
                         package != "libgtest-dev" && package != "libclang-rt-14-dev";
    if (!toolchain && !library) continue;
    ++checked;
    EXPECT_TRUE(installed.count(package))
        << "scripts/setup builds with " << package << ", the Dockerfile's build stage lacks it";
  }
  EXPECT_GT(checked, 5);
}

TEST(DeploymentDockerfile, runtime_stage_installs_the_package_of_every_library_the_binaries_need) {
  if (!onPath("dpkg") || !onPath("objdump")) GTEST_SKIP() << "needs dpkg and objdump";
  const std::string dockerfile = readFile(kRoot + "/Dockerfile");
  const std::set<std::string> installed = aptInstalled(dockerfile, "AS runtime");
  ASSERT_FALSE(installed.empty());
  for (const auto& package : installed) {
    EXPECT_FALSE(package.ends_with("-dev")) << package << ": no -dev packages at run time";
  }
  EXPECT_NE(std::string::npos, dockerfile.find("USER heimdallr"));

  // The libraries the server and each built plugin name as NEEDED, and the packages owning them.
  const std::string buildDir = fs::path(HEIMDALLR_PLUGIN_DIR).parent_path().string();
  const CommandResult needed =
      runCommand({"bash", "-c",
                  "set -e; cd \"$0\"; for f in bin/heimdallr plugins/*.so; do "
                  "objdump -p \"$f\" | awk -v f=\"$f\" '/NEEDED/ {print f, $2}'; done",
                  buildDir});
  ASSERT_EQ(0, needed.exitCode) << needed.output;
  std::vector<std::pair<std::string, std::string>> fileLibs;  // (binary, library)
  std::vector<std::string> dpkgQuery = {"dpkg", "-S"};
  for (const std::string& line : lines(needed.output)) {
    const auto w = words(line);
    ASSERT_EQ(2u, w.size()) << line;
    fileLibs.emplace_back(w[0], w[1]);
    dpkgQuery.push_back("*/" + w[1]);
  }
  const CommandResult owners = runCommand(dpkgQuery);  // one query: dpkg reads its lists once
  std::map<std::string, std::string> packageOf;        // library file name -> package
  static const std::regex kOwner(R"(^([^:,]+)[^ ]*: (\S+)$)");
  for (const std::string& line : lines(owners.output)) {
    std::smatch m;
    if (std::regex_match(line, m, kOwner)) {
      packageOf.emplace(fs::path(m[2].str()).filename().string(), m[1]);
    }
  }
  const std::set<std::string> inEveryDebianImage = {"libc6", "libstdc++6", "libgcc-s1"};
  int checked = 0;
  for (const auto& [binary, library] : fileLibs) {
    ASSERT_TRUE(packageOf.count(library)) << "no package owns " << library << "\n" << owners.output;
    const std::string& package = packageOf[library];
    ++checked;
    if (inEveryDebianImage.count(package)) continue;
    EXPECT_TRUE(installed.count(package))
        << binary << " needs " << library << " from package " << package
        << ", which the Dockerfile's runtime stage does not install";
  }
  EXPECT_GT(checked, 4);
}

// ---- conf/haproxy.cfg ---------------------------------------------------------------------------

TEST(DeploymentHaproxy, conf_haproxy_cfg_passes_haproxy_check) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  const auto result = HaproxyProcess::checkConfig(HaproxyProcess::templatePath());
  EXPECT_EQ(0, result.exitCode) << result.output;
  EXPECT_NE(std::string::npos, result.output.find("Configuration file is valid")) << result.output;

  const HaproxyTopology topology = parseHaproxy(readFile(HaproxyProcess::templatePath()));
  const std::set<std::string> timeouts(topology.timeouts.begin(), topology.timeouts.end());
  EXPECT_TRUE(timeouts.count("tunnel 1h")) << "WebSockets are tunnels: keep them for an hour";
  EXPECT_TRUE(timeouts.count("client 60s"));
  EXPECT_TRUE(timeouts.count("server 60s"));
  EXPECT_NE(std::string::npos, readFile(HaproxyProcess::templatePath()).find("balance roundrobin"));
}

TEST(DeploymentHaproxy, the_script_and_the_fixture_render_the_same_valid_config) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  const CommandResult script =
      runCluster({{"BASE_PORT", "19001"}, {"LB_PORT", "19000"}}, {"haproxy-config", "2"});
  ASSERT_EQ(0, script.exitCode) << script.output;
  const std::string fixture = HaproxyProcess::renderConfig(
      readFile(HaproxyProcess::templatePath()), "127.0.0.1:19000", "127.0.0.1", {19001, 19002});
  EXPECT_EQ(fixture, script.output);

  const HaproxyTopology topology = parseHaproxy(script.output);
  EXPECT_EQ("127.0.0.1:19000", topology.bind);
  ASSERT_EQ(2u, topology.servers.size());
  EXPECT_EQ("node1", topology.servers[0].name);
  EXPECT_EQ(19001, topology.servers[0].port);
  EXPECT_EQ("node2", topology.servers[1].name);
  EXPECT_EQ(19002, topology.servers[1].port);
  EXPECT_NE(std::string::npos, script.output.find("server node2 127.0.0.1:19002 check"));

  char path[] = "/tmp/heimdallr-haproxy-check-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << script.output;
  const auto check = HaproxyProcess::checkConfig(path);
  ::unlink(path);
  EXPECT_EQ(0, check.exitCode) << check.output;
  EXPECT_EQ(std::string::npos, check.output.find("WARNING")) << check.output;
}

// ---- HaproxyProcess: the real config in front of real nodes -------------------------------------

TEST(DeploymentHaproxy, round_robins_health_checks_and_websockets_over_two_nodes) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  ServerProcess node1({"server.node_id=node1"}), node2({"server.node_id=node2"});
  HaproxyProcess lb({node1.port(), node2.port()});
  ASSERT_TRUE(lb.waitForServersUp()) << lb.log();
  const auto states = lb.serverStates();
  EXPECT_EQ((std::map<std::string, std::string>{{"node1", "UP"}, {"node2", "UP"}}), states);

  // GET /health through the proxy alternates between the nodes.
  std::set<std::string> answered;
  for (int i = 0; i < 4; ++i) {
    const HttpResult health = httpGet(lb.port(), "/health");
    EXPECT_EQ(200, health.status);
    std::smatch m;
    if (std::regex_search(health.body, m, std::regex(R"re("node":"([^"]+)")re")))
      answered.insert(m[1]);
  }
  EXPECT_EQ((std::set<std::string>{"node1", "node2"}), answered);

  // WebSockets are upgraded through it and spread, and frames flow both ways.
  const std::string room = uniqueRoom("lb");
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(lb.port()));
    ASSERT_EQ(101, clients.back()->handshake("/" + room)) << clients.back()->responseHead();
  }
  EXPECT_EQ(2, waitForRoomMembers(node1.port(), room, 2));
  EXPECT_EQ(2, waitForRoomMembers(node2.port(), room, 2));
  for (size_t i = 0; i < clients.size(); ++i) {
    clients[i]->sendText("echo " + std::to_string(i));
    EXPECT_EQ(std::set<std::string>{}, receiveAll(*clients[i], {"echo " + std::to_string(i)}, 5s));
  }

  // A node that stops answering is taken out of rotation.
  clients.clear();
  node2.stop();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (lb.serverStates()["node2"].rfind("DOWN", 0) != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(0u, lb.serverStates()["node2"].rfind("DOWN", 0)) << lb.log();
  for (int i = 0; i < 3; ++i) {
    const HttpResult health = httpGet(lb.port(), "/health");
    EXPECT_EQ(200, health.status);
    EXPECT_NE(std::string::npos, health.body.find("\"node1\"")) << health.body;
  }
}

// ---- scripts/cluster end to end -----------------------------------------------------------------

TEST(DeploymentCluster, up_2_with_inmem_spreads_clients_and_down_leaves_nothing) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  LocalCluster cluster(2, "inmem");
  exerciseTwoNodeCluster(cluster, false);
}

TEST(DeploymentCluster, up_2_with_redis_relays_a_room_across_nodes_and_down_leaves_nothing) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  if (!onPath("redis-server")) GTEST_SKIP() << "redis-server is not installed";
  if (!fs::exists(std::string(HEIMDALLR_PLUGIN_DIR) + "/libheimdallr-redis-bus.so")) {
    GTEST_SKIP() << HEIMDALLR_PLUGIN_DIR
                 << "/libheimdallr-redis-bus.so is not built (plugins/redis-bus); the cluster "
                    "needs it to share rooms";
  }
  LocalCluster cluster(2, "redis");
  exerciseTwoNodeCluster(cluster, true);
}

TEST(DeploymentCluster, a_busy_port_fails_up_before_starting_anything) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  LocalCluster cluster(2, "inmem");
  Poco::Net::ServerSocket squatter(Poco::Net::SocketAddress("127.0.0.1", cluster.nodePort(2)));
  const CommandResult up = cluster.run({"up", "2"});
  EXPECT_NE(0, up.exitCode) << up.output;
  EXPECT_NE(std::string::npos, up.output.find(std::to_string(cluster.nodePort(2)))) << up.output;
  EXPECT_TRUE(cluster.recordedPids().empty());
  EXPECT_EQ(std::vector<std::string>{}, processesMatching(cluster.processNeedles()));
}

TEST(DeploymentCluster, a_node_that_fails_to_start_stops_the_rest_and_shows_its_log) {
  if (!HaproxyProcess::available()) GTEST_SKIP() << "haproxy is not installed";
  LocalCluster cluster(2, "inmem");
  // An unknown key makes every node exit with 78 at start-up.
  const CommandResult up = cluster.run({"up", "2", "--", "--set", "no.such_key=1"});
  EXPECT_NE(0, up.exitCode) << up.output;
  EXPECT_NE(std::string::npos, up.output.find("no.such_key")) << up.output;
  EXPECT_NE(std::string::npos, up.output.find("exited during start-up")) << up.output;
  EXPECT_TRUE(cluster.recordedPids().empty());
  EXPECT_EQ(std::vector<std::string>{}, processesMatching(cluster.processNeedles()));
}

}  // namespace heimdallr::test
