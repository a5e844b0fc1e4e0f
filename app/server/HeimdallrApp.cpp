#include "server/HeimdallrApp.h"

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/Environment.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/PatternFormatter.h>
#include <Poco/Process.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "bus/BusLoader.h"
#include "config/ConfigError.h"
#include "config/ConfigLoader.h"
#include "server/Credentials.h"
#include "server/Server.h"

namespace heimdallr::server {

namespace {
// Logs go to stdout, one line each, so that a supervisor (or a test) reads them from one pipe.
void setUpLogging(const std::string& level) {
  Poco::AutoPtr<Poco::PatternFormatter> formatter(
      new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i [%p] %s: %t"));
  Poco::AutoPtr<Poco::ConsoleChannel> console(new Poco::ConsoleChannel(std::cout));
  Poco::AutoPtr<Poco::FormattingChannel> channel(new Poco::FormattingChannel(formatter, console));
  Poco::Logger::root().setChannel(channel);
  Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));  // root and every logger below it
}

// "<hostname>-<pid>" in the alphabet of server.node_id ([A-Za-z0-9_-]): the id is a bus subject
// token (stats.<node_id>), so the dots of a fully qualified host name become '-' too.
std::string defaultNodeId() {
  std::string id;
  for (char c : Poco::Environment::nodeName()) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    id.push_back(ok ? c : '-');
  }
  if (id.empty()) id = "node";
  return id.substr(0, 48) + "-" + std::to_string(Poco::Process::id());
}

// main() blocked these in every thread, so only sigwait() here sees them. SIGHUP too when
// `reload` is given: it runs for each SIGHUP, and the wait goes on.
int waitForTerminationSignal(const std::function<void()>& reload = {}) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGQUIT);
  if (reload) sigaddset(&signals, SIGHUP);
  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal != SIGHUP) return signal;
    reload();
  }
}

// SIGHUP: the token key and the API key are read again from the files (or environment) the
// running config names. A reload that fails keeps the keys in force and says why.
void reloadCredentials(Credentials& credentials, const config::Config& config,
                       const std::string& configPath, Poco::Logger& log) {
  try {
    credentials.replace(Credentials::load(config, configPath));
    log.information("SIGHUP: token and API keys reloaded");
  } catch (const std::exception& e) {
    log.error("SIGHUP: keys not reloaded, the old ones stay in force: %s", std::string(e.what()));
  }
}

// During a drain an operator who signals again means "now": exit without cleaning up, as a
// shell does (128 + signal). Detached: it lives until the process ends.
void exitOnSecondSignal() {
  std::thread([] {
    const int signal = waitForTerminationSignal();
    std::cout << "heimdallr: signal " << signal << " during drain: exiting at once" << std::endl;
    std::_Exit(128 + signal);
  }).detach();
}

// Main thread. The drain budget is split so the whole shutdown fits in it: sessions are asked to
// leave over the first 60%, may take until 80% to go, connections that remain (HTTP, lingering
// closes) are cut by 90%, and messages the bus still holds get the rest to reach the backend, so
// clients elsewhere do not lose what this node accepted before it closed its clients.
void drainAndStop(Server& server, bus::Bus& bus, std::chrono::milliseconds budget) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto tail = std::max(budget, std::chrono::milliseconds(1000));  // drain_s 0: all at once
  server.drain(budget * 6 / 10, tail * 8 / 10);
  const auto stopBy = start + tail * 9 / 10;
  const auto graceMs = std::chrono::duration_cast<std::chrono::milliseconds>(stopBy - Clock::now());
  server.stop(static_cast<uint64_t>(std::max<int64_t>(0, graceMs.count())));
  const auto flushBy = start + tail * 97 / 100;
  while (bus.counters().pendingBytes > 0 && Clock::now() < flushBy) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  bus.stop();  // no bus handler may run once the server's rooms are gone
}
}  // namespace

void HeimdallrApp::defineOptions(Poco::Util::OptionSet& options) {
  ServerApplication::defineOptions(options);
  options.addOption(Poco::Util::Option("help", "h", "print this help and exit"));
  options.addOption(Poco::Util::Option("config", "c", "YAML configuration file")
                        .argument("FILE")
                        .repeatable(false));
  options.addOption(
      Poco::Util::Option("set", "s", "override one config key, e.g. --set server.port=0")
          .argument("KEY=VALUE")
          .repeatable(true));
  // `heimdallr token ...`: mint a connect token with the config's key.
  options.addOption(Poco::Util::Option("sub", "", "token: the user id (sub claim)")
                        .argument("USER")
                        .repeatable(false));
  options.addOption(Poco::Util::Option("rooms", "", "token: rooms it may join, e.g. 'team-*,42'")
                        .argument("LIST")
                        .repeatable(false));
  options.addOption(
      Poco::Util::Option("pub", "", "token: rooms it may publish in (default: --rooms; '' = none)")
          .argument("LIST")
          .repeatable(false));
  options.addOption(Poco::Util::Option("info", "", "token: info claim, a JSON object")
                        .argument("JSON")
                        .repeatable(false));
  options.addOption(Poco::Util::Option("ttl", "", "token: lifetime, e.g. 90s, 15m, 1h, 2d (1h)")
                        .argument("TTL")
                        .repeatable(false));
  options.addOption(Poco::Util::Option("alg", "", "token: HS256/384/512, RS256/384/512, ES256")
                        .argument("ALG")
                        .repeatable(false));
  options.addOption(
      Poco::Util::Option("private-key", "", "token: PEM private key for RS*/ES256 tokens")
          .argument("FILE")
          .repeatable(false));
}

void HeimdallrApp::handleOption(const std::string& name, const std::string& value) {
  ServerApplication::handleOption(name, value);
  if (name == "help") {
    helpRequested_ = true;
    stopOptionsProcessing();
  } else if (name == "config") {
    configPath_ = value;
  } else if (name == "set") {
    overrides_.push_back(value);
  } else if (name == "sub") {
    token_.user = value;
  } else if (name == "rooms") {
    token_.rooms = value;
  } else if (name == "pub") {
    token_.pub = value;
  } else if (name == "info") {
    token_.info = value;
  } else if (name == "ttl") {
    token_.ttl = value;
  } else if (name == "alg") {
    token_.algorithm = value;
  } else if (name == "private-key") {
    token_.privateKeyFile = value;
  }
}

void HeimdallrApp::printHelp() {
  Poco::Util::HelpFormatter help(options());
  help.setCommand(commandName());
  help.setUsage(
      "[--config FILE] [--set KEY=VALUE ...]\n"
      "       heimdallr token --sub USER --rooms LIST [--pub LIST] [--ttl 1h] [--info JSON] "
      "[--config FILE]");
  help.setHeader(
      "heimdallr: a WebSocket chat gateway. Every frame sent to ws://host/{room} "
      "reaches every member of that room, on every node.");
  help.format(std::cout);
}

int HeimdallrApp::main(const std::vector<std::string>& args) {
  if (helpRequested_) {
    printHelp();
    return EXIT_OK;
  }
  if (!args.empty() && args.front() == "token" && args.size() == 1) {
    return runTokenCommand(configPath_, overrides_, token_, std::cout, std::cerr);
  }
  if (!args.empty()) {
    std::cerr << "heimdallr: unexpected argument \"" << args.front()
              << "\" (the only command is `token`; see --help)" << std::endl;
    return EXIT_USAGE;
  }
  try {
    return serve();
  } catch (const config::ConfigError& e) {
    std::cerr << "heimdallr: " << e.what() << std::endl;
    return EXIT_CONFIG;
  }
}

namespace {
// The first key that asks for history or presence, for the start-up error.
std::string keyNeedingStorage(const config::RoomsConfig& rooms) {
  const auto keyOf = [](const config::RoomPolicy& policy, const std::string& prefix) {
    if (policy.keepsHistory()) return prefix + "history.size";
    if (policy.presence) return prefix + "presence.enabled";
    return std::string();
  };
  if (std::string key = keyOf(rooms.defaults, ""); !key.empty()) return key;
  for (size_t i = 0; i < rooms.rules.size(); ++i) {
    if (std::string key = keyOf(rooms.rules[i].policy, "room_rules[" + std::to_string(i) + "].");
        !key.empty())
      return key;
  }
  return {};
}
}  // namespace

int HeimdallrApp::serve() {
  const config::Config config = config::loadConfig(configPath_, overrides_);
  setUpLogging(config.log.level);
  Poco::Logger& log = Poco::Logger::get("heimdallr");
  const std::string nodeId = config.server.nodeId.empty() ? defaultNodeId() : config.server.nodeId;
  Credentials credentials(Credentials::load(config, configPath_));

  std::unique_ptr<bus::BusLoader> busLoader;
  try {
    busLoader = std::make_unique<bus::BusLoader>(config.bus.plugin, config.bus.pluginDir);
  } catch (const std::exception& e) {
    std::cerr << "heimdallr: " << configPath_ << ": " << e.what() << std::endl;
    return EXIT_CONFIG;
  }
  bus::Bus& bus = busLoader->bus();
  if (bus.storage() == nullptr) {
    if (const std::string key = keyNeedingStorage(config.rooms); !key.empty()) {
      std::cerr << "heimdallr: " << configPath_ << ": " << key << ": the " << config.bus.plugin
                << " bus plugin keeps no history or presence (it has no Storage); turn it off "
                   "or use a plugin that has it (inmem, redis)"
                << std::endl;
      return EXIT_CONFIG;
    }
  }
  try {
    bus.start(nodeId, config.bus.options);
  } catch (const std::invalid_argument& e) {
    std::cerr << "heimdallr: " << configPath_ << ": bus." << config.bus.plugin << "." << e.what()
              << std::endl;
    return EXIT_CONFIG;
  }

  Server server(config, nodeId, bus, credentials);
  try {
    server.start();
  } catch (const Poco::Exception& e) {
    std::cerr << "heimdallr: server.host/server.port: cannot listen on " << config.server.host
              << ":" << config.server.port << ": " << e.displayText() << std::endl;
    bus.stop();
    return EXIT_CANTCREAT;
  }
  log.information("heimdallr listening on %s:%hu", server.host(), server.port());
  if (server.hasApiListener()) {
    log.information("server API, /metrics and /stats on %s:%hu (api.listen)", server.apiHost(),
                    server.apiPort());
  }
  log.information("node %s, bus plugin %s (%s), auth %s, server API %s", nodeId, config.bus.plugin,
                  busLoader->path(), std::string(config.auth.enabled ? "on" : "off"),
                  std::string(credentials.current()->apiKey.empty() ? "off" : "on"));

  const int signal =
      waitForTerminationSignal([&] { reloadCredentials(credentials, config, configPath_, log); });
  exitOnSecondSignal();
  const auto drain = std::chrono::milliseconds(config.server.drainTimeout);
  log.information("signal %d: draining %d sessions over %d s (a second signal exits at once)",
                  signal, static_cast<int>(server.context().sessions.load()),
                  static_cast<int>(config.server.drainTimeout.count()));
  drainAndStop(server, bus, drain);
  log.information("drained; exiting");
  return EXIT_OK;
}

}  // namespace heimdallr::server
