// libFuzzer target: config::loadConfigFromString on arbitrary text.
//
// Input layout: the YAML file, then optionally NUL-separated `--set` overrides (at most 4):
//   <yaml> \0 <dotted.key=value> \0 <dotted.key=value> ...
// ConfigError is the documented failure and the only exception allowed out; anything else thrown
// escapes this function, which libFuzzer reports as a crash. A config that loads must respect the
// schema's ranges and allowed values whatever the input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "config/ConfigError.h"
#include "config/ConfigLoader.h"

namespace {

using heimdallr::config::Config;

constexpr size_t kMaxOverrides = 4;

bool validNodeId(const std::string& id) {
  if (id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool oneOf(const std::string& value, std::initializer_list<std::string_view> allowed) {
  for (std::string_view a : allowed) {
    if (value == a) return true;
  }
  return false;
}

void checkSchema(const Config& c) {
  FUZZ_CHECK(!c.server.host.empty());
  FUZZ_CHECK(c.server.port >= 0 && c.server.port <= 65535);
  FUZZ_CHECK(c.server.ioThreads >= 0 && c.server.ioThreads <= 256);
  FUZZ_CHECK(c.server.httpThreads >= 1 && c.server.httpThreads <= 64);
  FUZZ_CHECK(validNodeId(c.server.nodeId));
  FUZZ_CHECK(c.server.drainTimeout.count() >= 0 && c.server.drainTimeout.count() <= 3600);
  FUZZ_CHECK(c.limits.maxMessageBytes >= 1 && c.limits.maxMessageBytes <= (64u << 20));
  FUZZ_CHECK(c.limits.maxConnections >= 1 && c.limits.maxConnections <= 10'000'000);
  FUZZ_CHECK(c.limits.sendQueueBytes >= 1024 && c.limits.sendQueueBytes <= (1u << 30));
  FUZZ_CHECK(c.limits.idleTimeout.count() >= 0 && c.limits.idleTimeout.count() <= 86400);
  FUZZ_CHECK(c.limits.maxHeaderBytes >= 256 && c.limits.maxHeaderBytes <= (1u << 20));
  FUZZ_CHECK(c.limits.handshakeTimeout.count() >= 100 &&
             c.limits.handshakeTimeout.count() <= 600000);
  FUZZ_CHECK(oneOf(c.bus.plugin, {"inmem", "redis"}));
  FUZZ_CHECK(!c.bus.pluginDir.empty());
  for (const auto& [name, value] : c.bus.options) {
    FUZZ_CHECK(!name.empty() && name.find('.') == std::string::npos);
    (void)value;
  }
  FUZZ_CHECK(oneOf(c.log.level, {"trace", "debug", "information", "notice", "warning", "error",
                                 "critical", "fatal", "none"}));
  FUZZ_CHECK(c.stats.interval.count() >= 1 && c.stats.interval.count() <= 3600);
  FUZZ_CHECK(!c.web.root.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string yaml(input.substr(0, nul));
  std::vector<std::string> overrides;
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (overrides.size() < kMaxOverrides) {
      const size_t next = rest.find('\0');
      overrides.emplace_back(rest.substr(0, next));
      if (next == std::string_view::npos) break;
      rest.remove_prefix(next + 1);
    }
  }

  Config config;
  try {
    config = heimdallr::config::loadConfigFromString(yaml, "fuzz", overrides);
  } catch (const heimdallr::config::ConfigError& error) {
    // The message starts with its source: the file name, or "--set" for an override.
    const std::string_view what = error.what();
    FUZZ_CHECK(what.starts_with("fuzz: ") || what.starts_with("--set: "));
    FUZZ_CHECK(error.source() == "fuzz" || error.source() == "--set");
    return 0;
  }
  checkSchema(config);
  return 0;
}
