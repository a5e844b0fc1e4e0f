#pragma once

#include <Poco/Util/ServerApplication.h>

#include <string>
#include <vector>

#include "server/TokenCommand.h"

namespace heimdallr::server {

/// The process: parses --config/--set, loads the bus plugin, runs a Server until SIGINT/SIGTERM.
/// Start-up errors name the config key or file they concern and exit non-zero.
class HeimdallrApp : public Poco::Util::ServerApplication {
 protected:
  void defineOptions(Poco::Util::OptionSet& options) override;
  void handleOption(const std::string& name, const std::string& value) override;
  int main(const std::vector<std::string>& args) override;

 private:
  void printHelp();
  int serve();

  bool helpRequested_ = false;
  TokenCommandOptions token_;  // options of `heimdallr token`
  std::string configPath_ = "conf/heimdallr.yaml";
  std::vector<std::string> overrides_;
};

}  // namespace heimdallr::server
