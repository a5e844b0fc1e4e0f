#include "RedisOptions.h"

#include <functional>
#include <map>
#include <stdexcept>

namespace heimdallr::bus {

namespace {
long long parseInteger(const std::string& key, const std::string& value, long long min,
                       long long max) {
  size_t used = 0;
  long long parsed = 0;
  try {
    parsed = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (value.empty() || used != value.size() || parsed < min || parsed > max) {
    throw std::invalid_argument(key + ": expected an integer in [" + std::to_string(min) + ", " +
                                std::to_string(max) + "], got \"" + value + "\"");
  }
  return parsed;
}

bool validPrefix(const std::string& prefix) {
  if (prefix.size() > 64) return false;
  for (char c : prefix) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':';
    if (!ok) return false;
  }
  return true;
}
}  // namespace

RedisOptions RedisOptions::parse(const Options& options) {
  RedisOptions parsed;
  using Setter = std::function<void(const std::string& key, const std::string& value)>;
  const std::map<std::string, Setter> setters = {
      {"host",
       [&](const std::string& key, const std::string& value) {
         if (value.empty()) throw std::invalid_argument(key + ": must not be empty");
         parsed.host = value;
       }},
      {"port",
       [&](const std::string& key, const std::string& value) {
         parsed.port = static_cast<int>(parseInteger(key, value, 1, 65535));
       }},
      {"username", [&](const std::string&, const std::string& value) { parsed.username = value; }},
      {"password", [&](const std::string&, const std::string& value) { parsed.password = value; }},
      {"connect_timeout_ms",
       [&](const std::string& key, const std::string& value) {
         parsed.connectTimeoutMs = static_cast<int>(parseInteger(key, value, 10, 60000));
       }},
      {"channel_prefix",
       [&](const std::string& key, const std::string& value) {
         if (!validPrefix(value)) {
           throw std::invalid_argument(key + ": expected up to 64 of [A-Za-z0-9_:-], got \"" +
                                       value + "\"");
         }
         parsed.channelPrefix = value;
       }},
      {"max_pending_bytes",
       [&](const std::string& key, const std::string& value) {
         parsed.maxPendingBytes =
             static_cast<size_t>(parseInteger(key, value, 1024, 1024LL * 1024 * 1024));
       }},
      {"storage_timeout_ms",
       [&](const std::string& key, const std::string& value) {
         parsed.storageTimeoutMs = static_cast<int>(parseInteger(key, value, 100, 60000));
       }},
  };
  for (const auto& [key, value] : options) {
    auto it = setters.find(key);
    if (it == setters.end()) throw std::invalid_argument(key + ": unknown option of the redis bus");
    it->second(key, value);
  }
  if (!parsed.username.empty() && parsed.password.empty()) {
    throw std::invalid_argument("password: required when username is set");
  }
  return parsed;
}

}  // namespace heimdallr::bus
