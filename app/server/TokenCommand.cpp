#include "server/TokenCommand.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "auth/RoomPatterns.h"
#include "auth/TokenMinter.h"
#include "config/ConfigError.h"
#include "config/ConfigLoader.h"
#include "server/Credentials.h"

namespace heimdallr::server {

namespace {
constexpr int kExitUsage = 64;
constexpr int kExitConfig = 78;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw std::invalid_argument("--private-key: cannot open \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string defaultAlgorithm(const auth::VerifierOptions& keys) {
  if (!keys.rsaPublicKeyPem.empty()) return "RS256";
  if (!keys.ecPublicKeyPem.empty()) return "ES256";
  return "HS256";
}
}  // namespace

int runTokenCommand(const std::string& configPath, const std::vector<std::string>& overrides,
                    const TokenCommandOptions& options, std::ostream& out, std::ostream& err) {
  std::optional<TokenKeys> keys;
  try {
    const config::Config config = config::loadConfig(configPath, overrides);
    keys = readTokenKeys(config.auth, configPath);
    if (!keys) {
      err << "heimdallr token: " << configPath
          << ": auth.enabled is false, so the server takes no tokens; enable auth first\n";
      return kExitConfig;
    }
  } catch (const config::ConfigError& e) {
    err << "heimdallr token: " << e.what() << "\n";
    return kExitConfig;
  }
  try {
    if (options.user.empty()) throw std::invalid_argument("--sub is required");
    auth::MintRequest request;
    request.user = options.user;
    request.rooms = auth::RoomPatterns::parseList(options.rooms).entries();
    if (options.pub) request.publish = auth::RoomPatterns::parseList(*options.pub).entries();
    request.infoJson = options.info;
    request.ttl = auth::parseTtl(options.ttl);
    request.audience = keys->options.audience;
    request.issuer = keys->options.issuer;
    request.nowSeconds = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    const std::string algorithm =
        options.algorithm.empty() ? defaultAlgorithm(keys->options) : options.algorithm;
    const std::string family = defaultAlgorithm(keys->options).substr(0, 2);
    if (!algorithm.starts_with(family)) {
      throw std::invalid_argument("--alg " + algorithm + ": the server's key (" + keys->keyName +
                                  ") accepts only " + family + " tokens");
    }
    std::string key;
    if (family == "HS") {
      key = keys->options.hmacSecret;
    } else {
      if (options.privateKeyFile.empty()) {
        throw std::invalid_argument("--alg " + algorithm +
                                    " signs with a private key: pass --private-key FILE (the "
                                    "config holds only the public key)");
      }
      key = readFile(options.privateKeyFile);
    }
    out << auth::mintToken(request, algorithm, key) << "\n";
    return 0;
  } catch (const std::exception& e) {
    err << "heimdallr token: " << e.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace heimdallr::server
