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

#include <iostream>
#include <memory>
#include <stdexcept>

#include "bus/BusLoader.h"
#include "config/ConfigError.h"
#include "config/ConfigLoader.h"
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
  }
}

void HeimdallrApp::printHelp() {
  Poco::Util::HelpFormatter help(options());
  help.setCommand(commandName());
  help.setUsage("[--config FILE] [--set KEY=VALUE ...]");
  help.setHeader(
      "heimdallr: a WebSocket chat gateway. Every frame sent to ws://host/{room} "
      "reaches every member of that room, on every node.");
  help.format(std::cout);
}

int HeimdallrApp::main(const std::vector<std::string>&) {
  if (helpRequested_) {
    printHelp();
    return EXIT_OK;
  }
  try {
    return serve();
  } catch (const config::ConfigError& e) {
    std::cerr << "heimdallr: " << e.what() << std::endl;
    return EXIT_CONFIG;
  }
}

int HeimdallrApp::serve() {
  const config::Config config = config::loadConfig(configPath_, overrides_);
  setUpLogging(config.log.level);
  Poco::Logger& log = Poco::Logger::get("heimdallr");
  const std::string nodeId = config.server.nodeId.empty() ? defaultNodeId() : config.server.nodeId;

  std::unique_ptr<bus::BusLoader> busLoader;
  try {
    busLoader = std::make_unique<bus::BusLoader>(config.bus.plugin, config.bus.pluginDir);
  } catch (const std::exception& e) {
    std::cerr << "heimdallr: " << configPath_ << ": " << e.what() << std::endl;
    return EXIT_CONFIG;
  }
  bus::Bus& bus = busLoader->bus();
  try {
    bus.start(nodeId, config.bus.options);
  } catch (const std::invalid_argument& e) {
    std::cerr << "heimdallr: " << configPath_ << ": bus." << config.bus.plugin << "." << e.what()
              << std::endl;
    return EXIT_CONFIG;
  }

  Server server(config, nodeId, bus);
  try {
    server.start();
  } catch (const Poco::Exception& e) {
    std::cerr << "heimdallr: server.host/server.port: cannot listen on " << config.server.host
              << ":" << config.server.port << ": " << e.displayText() << std::endl;
    bus.stop();
    return EXIT_CANTCREAT;
  }
  log.information("heimdallr listening on %s:%hu", server.host(), server.port());
  log.information("node %s, bus plugin %s (%s)", nodeId, config.bus.plugin, busLoader->path());

  waitForTerminationRequest();
  log.information("shutting down");
  server.stop();
  bus.stop();  // no bus handler may run once the server's rooms are gone
  return EXIT_OK;
}

}  // namespace heimdallr::server
