#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace heimdallr::server {

/// `heimdallr token`: mints a connect token with the key of the config file, for tests, demos and
/// scripts that need one without writing code. What the options said, as text.
struct TokenCommandOptions {
  std::string user;                // --sub (required)
  std::string rooms;               // --rooms "team-*,42"
  std::optional<std::string> pub;  // --pub "42" ("" = read only); absent = same as rooms
  std::string info;                // --info '{"name":"Alice"}'
  std::string ttl = "1h";          // --ttl 90s | 15m | 1h | 2d; 0 = no exp
  std::string algorithm;           // --alg; default HS256, RS256 or ES256 by the key
  std::string privateKeyFile;      // --private-key, for RS*/ES256 (the config has the public key)
};

/// Prints the token on `out` and returns 0, or prints why not on `err` and returns the exit code:
/// EX_USAGE (64) for bad options, EX_CONFIG (78) for a config without a usable key. Main thread.
int runTokenCommand(const std::string& configPath, const std::vector<std::string>& overrides,
                    const TokenCommandOptions& options, std::ostream& out, std::ostream& err);

}  // namespace heimdallr::server
