#include "config/ConfigLoader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace heimdallr::config {
namespace {

constexpr std::string_view kOverrideSource = "--set";

constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = 1024 * kKiB;
constexpr std::int64_t kGiB = 1024 * kMiB;

// bus.plugin chooses among these, and only these names may appear as `bus.<name>` option maps.
constexpr std::string_view kBusSection = "bus";
constexpr std::string_view kBusPlugins[] = {"inmem", "redis"};

constexpr std::string_view kBooleans[] = {"true", "false"};

constexpr std::string_view kRateLimitActions[] = {"drop", "close"};

// The POCO level names, so the value can be handed to Poco::Logger unchanged.
constexpr std::string_view kLogLevels[] = {"trace", "debug",    "information", "notice", "warning",
                                           "error", "critical", "fatal",       "none"};

enum class Kind { kInteger, kText, kChoice, kTextList };

using IntegerSetter = void (*)(Config&, std::int64_t);
using TextSetter = void (*)(Config&, std::string&&);
using TextListSetter = void (*)(Config&, std::vector<std::string>&&);

// A constraint on a free-form string; `expected` completes the sentence "expected ...".
struct TextRule {
  std::string_view expected;
  bool (*accepts)(std::string_view);
};

constexpr TextRule kNonEmpty{"a non-empty string", [](std::string_view s) { return !s.empty(); }};

// The node id travels in every bus message and shows up in logs and metrics, so keep it to
// characters that need no quoting anywhere. It is also one subject token (stats.<node_id>), so
// no dots.
constexpr TextRule kNodeId{"1-64 characters from [A-Za-z0-9_-], or \"\" for hostname-pid",
                           [](std::string_view s) {
                             return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
                                      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                             (c >= '0' && c <= '9') || c == '_' || c == '-';
                                    });
                           }};

// A browser's Origin header: scheme://host[:port], no path, nothing a header could not carry.
constexpr TextRule kOrigin{"an origin such as \"https://chat.example.com\" (scheme://host[:port])",
                           [](std::string_view s) {
                             const std::size_t scheme = s.find("://");
                             if (scheme == std::string_view::npos || scheme == 0) return false;
                             const std::string_view host = s.substr(scheme + 3);
                             return !host.empty() && host.find('/') == std::string_view::npos &&
                                    std::all_of(s.begin(), s.end(), [](char c) {
                                      return c > 0x20 && c < 0x7f && c != ',';
                                    });
                           }};

// A file path, or "" for none. Only NUL cannot stand in a path.
constexpr TextRule kOptionalPath{"a file path, or \"\" for none", [](std::string_view s) {
                                   return s.find('\0') == std::string_view::npos;
                                 }};

// A claim value compared as is (auth.audience, auth.issuer); "" turns the check off.
constexpr TextRule kClaimValue{"a string of at most 256 characters, or \"\" for no check",
                               [](std::string_view s) { return s.size() <= 256; }};

// api.listen: "" or host:port, IPv6 hosts in brackets ("[::1]:9001"); port 0 picks a free one.
constexpr TextRule kListenAddress{
    "\"\" or host:port, e.g. \"127.0.0.1:9001\" or \"[::1]:9001\"", [](std::string_view s) {
      if (s.empty()) return true;
      const std::size_t colon = s.rfind(':');
      if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
      std::string_view host = s.substr(0, colon);
      const std::string_view port = s.substr(colon + 1);
      if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') return false;
        host = host.substr(1, host.size() - 2);
      } else if (host.find(':') != std::string_view::npos) {
        return false;  // an IPv6 address needs brackets
      }
      int value = 0;
      const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
      return ec == std::errc() && ptr == port.data() + port.size() && value >= 0 &&
             value <= 65535 && std::all_of(host.begin(), host.end(), [](char c) {
               return c > 0x20 && c < 0x7f && c != '[' && c != ']' && c != '/';
             });
    }};

// One row of the schema: a dotted key, how its value is checked, and where it goes in Config.
struct Setting {
  std::string_view key;
  Kind kind;
  std::int64_t min = 0;
  std::int64_t max = 0;
  TextRule rule{};
  std::span<const std::string_view> choices{};
  IntegerSetter setInteger = nullptr;
  TextSetter setText = nullptr;
  TextListSetter setTextList = nullptr;
};

constexpr Setting integer(std::string_view key, std::int64_t min, std::int64_t max,
                          IntegerSetter set) {
  return {.key = key, .kind = Kind::kInteger, .min = min, .max = max, .setInteger = set};
}

constexpr Setting text(std::string_view key, TextRule rule, TextSetter set) {
  return {.key = key, .kind = Kind::kText, .rule = rule, .setText = set};
}

// A YAML list of strings, each checked by `rule`; `[]`, an empty value and a missing key all mean
// an empty list.
constexpr Setting textList(std::string_view key, TextRule rule, TextListSetter set) {
  return {.key = key, .kind = Kind::kTextList, .rule = rule, .setTextList = set};
}

constexpr Setting choice(std::string_view key, std::span<const std::string_view> choices,
                         TextSetter set) {
  return {.key = key, .kind = Kind::kChoice, .choices = choices, .setText = set};
}

// Setters named by member pointers, so a schema row stays one line. static_cast also builds the
// std::chrono durations from their count.
template <auto kSection, auto kField>
void assignInteger(Config& config, std::int64_t value) {
  auto& field = (config.*kSection).*kField;
  field = static_cast<std::remove_reference_t<decltype(field)>>(value);
}

template <auto kSection, auto kField>
void assignText(Config& config, std::string&& value) {
  (config.*kSection).*kField = std::move(value);
}

template <auto kSection, auto kField>
void assignTextList(Config& config, std::vector<std::string>&& value) {
  (config.*kSection).*kField = std::move(value);
}

// The room policy keys, written into the defaults at the top level and into a rule's policy
// inside `room_rules` (applyRoomRules resolves a rule against a copy of the whole Config).
template <auto kField>
void assignPolicyInteger(Config& config, std::int64_t value) {
  auto& field = config.rooms.defaults.*kField;
  field = static_cast<std::remove_reference_t<decltype(field)>>(value);
}

template <auto kField>
void assignPolicyFlag(Config& config, std::string&& value) {
  config.rooms.defaults.*kField = value == "true";
}

constexpr std::string_view kRoomRules = "room_rules";

// The schema. Adding a setting is one row here plus its field in Config.h; the ranges are
// inclusive and every range fits the field it is stored in.
constexpr Setting kSettings[] = {
    text("server.host", kNonEmpty, assignText<&Config::server, &ServerConfig::host>),
    integer("server.port", 0, 65535, assignInteger<&Config::server, &ServerConfig::port>),
    integer("server.io_threads", 0, 256, assignInteger<&Config::server, &ServerConfig::ioThreads>),
    integer("server.http_threads", 1, 64,
            assignInteger<&Config::server, &ServerConfig::httpThreads>),
    text("server.node_id", kNodeId, assignText<&Config::server, &ServerConfig::nodeId>),
    integer("server.drain_s", 0, 3600, assignInteger<&Config::server, &ServerConfig::drainTimeout>),
    textList("server.allowed_origins", kOrigin,
             assignTextList<&Config::server, &ServerConfig::allowedOrigins>),
    integer("limits.max_message_bytes", 1, 64 * kMiB,
            assignInteger<&Config::limits, &LimitsConfig::maxMessageBytes>),
    integer("limits.max_connections", 1, 10'000'000,
            assignInteger<&Config::limits, &LimitsConfig::maxConnections>),
    integer("limits.max_connections_per_ip", 0, 10'000'000,
            assignInteger<&Config::limits, &LimitsConfig::maxConnectionsPerIp>),
    integer("limits.messages_per_second", 0, 1'000'000,
            assignInteger<&Config::limits, &LimitsConfig::messagesPerSecond>),
    integer("limits.burst", 1, 1'000'000, assignInteger<&Config::limits, &LimitsConfig::burst>),
    choice("limits.rate_limit_action", kRateLimitActions,
           assignText<&Config::limits, &LimitsConfig::rateLimitAction>),
    integer("limits.send_queue_bytes", kKiB, kGiB,
            assignInteger<&Config::limits, &LimitsConfig::sendQueueBytes>),
    integer("limits.idle_timeout_s", 0, 86400,
            assignInteger<&Config::limits, &LimitsConfig::idleTimeout>),
    integer("limits.max_header_bytes", 256, kMiB,
            assignInteger<&Config::limits, &LimitsConfig::maxHeaderBytes>),
    integer("limits.handshake_timeout_ms", 100, 600000,
            assignInteger<&Config::limits, &LimitsConfig::handshakeTimeout>),
    integer("limits.max_rooms_per_connection", 1, 100'000,
            assignInteger<&Config::limits, &LimitsConfig::maxRoomsPerConnection>),
    integer("limits.max_api_body_bytes", 1024, 64 * kMiB,
            assignInteger<&Config::limits, &LimitsConfig::maxApiBodyBytes>),
    choice("auth.enabled", kBooleans,
           [](Config& config, std::string&& value) { config.auth.enabled = value == "true"; }),
    text("auth.hmac_secret_file", kOptionalPath,
         assignText<&Config::auth, &AuthConfig::hmacSecretFile>),
    text("auth.rsa_public_key_file", kOptionalPath,
         assignText<&Config::auth, &AuthConfig::rsaPublicKeyFile>),
    text("auth.ec_public_key_file", kOptionalPath,
         assignText<&Config::auth, &AuthConfig::ecPublicKeyFile>),
    integer("auth.leeway_s", 0, 600, assignInteger<&Config::auth, &AuthConfig::leeway>),
    text("auth.audience", kClaimValue, assignText<&Config::auth, &AuthConfig::audience>),
    text("auth.issuer", kClaimValue, assignText<&Config::auth, &AuthConfig::issuer>),
    text("api.key_file", kOptionalPath, assignText<&Config::api, &ApiConfig::keyFile>),
    text("api.listen", kListenAddress, assignText<&Config::api, &ApiConfig::listen>),
    choice("bus.plugin", kBusPlugins, assignText<&Config::bus, &BusConfig::plugin>),
    text("bus.plugin_dir", kNonEmpty, assignText<&Config::bus, &BusConfig::pluginDir>),
    choice("log.level", kLogLevels, assignText<&Config::log, &LogConfig::level>),
    integer("stats.interval_s", 1, 3600, assignInteger<&Config::stats, &StatsConfig::interval>),
    choice("metrics.enabled", kBooleans,
           [](Config& config, std::string&& value) { config.metrics.enabled = value == "true"; }),
    text("web.root", kNonEmpty, assignText<&Config::web, &WebConfig::root>),
    integer("history.size", 0, 1'000'000, assignPolicyInteger<&RoomPolicy::historySize>),
    integer("history.ttl_s", 1, 30 * 86400, assignPolicyInteger<&RoomPolicy::historyTtl>),
    integer("history.meta_ttl_s", 1, 365 * 86400, assignPolicyInteger<&RoomPolicy::historyMetaTtl>),
    integer("history.join_messages", 0, 1'000'000, assignPolicyInteger<&RoomPolicy::joinMessages>),
    choice("presence.enabled", kBooleans, assignPolicyFlag<&RoomPolicy::presence>),
    integer("presence.ttl_s", 3, 86400, assignPolicyInteger<&RoomPolicy::presenceTtl>),
    choice("presence.join_leave", kBooleans, assignPolicyFlag<&RoomPolicy::joinLeave>),
};

// A rule's `match`: a room id, or a prefix of one followed by '*' ("*" alone: every room).
constexpr TextRule kRoomMatch{
    "a room id ([A-Za-z0-9_-]{1,64}) or a prefix of one followed by '*'", [](std::string_view s) {
      if (!s.empty() && s.back() == '*') s.remove_suffix(1);
      return s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
             });
    }};

const Setting* findSetting(std::string_view key) {
  for (const Setting& setting : kSettings) {
    if (setting.key == key) return &setting;
  }
  return nullptr;
}

// A section is any proper prefix of a setting key ("server", "limits", ...); the root is "".
bool isSection(std::string_view key) {
  if (key.empty()) return true;
  return std::any_of(std::begin(kSettings), std::end(kSettings), [key](const Setting& setting) {
    return setting.key.size() > key.size() && setting.key.starts_with(key) &&
           setting.key[key.size()] == '.';
  });
}

bool isBusPlugin(std::string_view name) {
  return std::find(std::begin(kBusPlugins), std::end(kBusPlugins), name) != std::end(kBusPlugins);
}

std::string joinKey(std::string_view prefix, std::string_view name) {
  std::string key(prefix);
  if (!key.empty()) key += '.';
  key += name;
  return key;
}

std::string joinChoices(std::span<const std::string_view> choices) {
  std::string joined;
  for (std::string_view choice : choices) {
    if (!joined.empty()) joined += ", ";
    joined += choice;
  }
  return joined;
}

// Quoted and escaped so that empty strings, spaces and control characters are visible in the
// message, and cut short so a pasted blob cannot flood the log.
std::string quote(std::string_view value) {
  constexpr std::size_t kMaxShown = 80;
  std::string quoted = "\"";
  for (std::size_t i = 0; i < value.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      quoted += "\\x";
      quoted += kHex[c >> 4];
      quoted += kHex[c & 0xf];
    } else {
      quoted += static_cast<char>(c);
    }
  }
  if (value.size() > kMaxShown) quoted += "...";
  quoted += '"';
  return quoted;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quote(node.Scalar());
    default:
      return "null";
  }
}

// Quoted scalars and `!!str` are strings by YAML's rules even when they look like numbers.
bool isPlainScalar(const YAML::Node& node) {
  return node.IsScalar() && (node.Tag() == "?" || node.Tag() == "tag:yaml.org,2002:int");
}

// Plain decimal integers only: no floats, no hex or octal, no size suffixes.
std::optional<std::int64_t> parseInteger(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Typos and a forgotten section ("port" for "server.port") are the usual reasons for an unknown
// key, so point at the key that was probably meant.
std::string suggestionFor(std::string_view unknown) {
  std::vector<std::string> known;
  for (const Setting& setting : kSettings) known.emplace_back(setting.key);
  for (std::string_view plugin : kBusPlugins) known.push_back(joinKey(kBusSection, plugin));

  const auto lastSegment = [](std::string_view key) { return key.substr(key.rfind('.') + 1); };
  std::string best;
  std::size_t bestDistance = std::min<std::size_t>(3, unknown.size() / 3 + 1);
  for (const std::string& candidate : known) {
    if (lastSegment(candidate) == lastSegment(unknown)) {
      return " (did you mean \"" + candidate + "\"?)";
    }
    // The distance is at least the difference in length: skip the quadratic work for a long key.
    const std::size_t gap =
        std::max(unknown.size(), candidate.size()) - std::min(unknown.size(), candidate.size());
    if (gap > bestDistance) continue;
    const std::size_t distance = editDistance(unknown, candidate);
    if (distance <= bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  return best.empty() ? std::string() : " (did you mean \"" + best + "\"?)";
}

// Accumulates what one load has read so far, across the file and then each override.
struct LoadState {
  Config config;
  // Options of every plugin section seen; only the chosen plugin's reach Config at the end,
  // because bus.plugin may be set after (or override) the sections.
  std::map<std::string, std::map<std::string, std::string>> pluginOptions;
  // `room_rules` as given, with where it came from; resolved at the end against the final
  // top-level history and presence keys, which a rule's unset keys inherit.
  std::optional<std::pair<YAML::Node, std::string>> roomRules;
};

// Walks one YAML tree (the file, or one override's value) and applies it at a dotted key.
class TreeApplier {
 public:
  TreeApplier(LoadState& state, std::string source) : state_(state), source_(std::move(source)) {}

  /// Errors name `displayPrefix` + key (a rule's keys: "room_rules[2].history.size").
  TreeApplier(LoadState& state, std::string source, std::string displayPrefix)
      : state_(state), source_(std::move(source)), displayPrefix_(std::move(displayPrefix)) {}

  void apply(const std::string& key, const YAML::Node& node) {
    if (key == kRoomRules) {
      if (!node.IsNull() && !node.IsSequence()) {
        fail(key,
             "expected a list of rules ({match: \"live-*\", history: {...}, presence: "
             "{...}}), got " +
                 describe(node));
      }
      state_.roomRules.emplace(node, source_);
      return;
    }
    if (const Setting* setting = findSetting(key)) {
      applySetting(*setting, node);
      return;
    }
    const std::string busPrefix = joinKey(kBusSection, "");
    if (key.starts_with(busPrefix)) {
      const std::string_view rest = std::string_view(key).substr(busPrefix.size());
      const std::size_t dot = rest.find('.');
      const std::string plugin(rest.substr(0, dot));
      if (isBusPlugin(plugin)) {
        if (dot == std::string_view::npos) {
          applyPluginSection(key, plugin, node);
        } else {
          applyPluginOption(key, plugin, rest.substr(dot + 1), node);
        }
        return;
      }
    }
    if (isSection(key)) {
      applySection(key, node);
      return;
    }
    throw ConfigError::unknownKey(source_, displayPrefix_ + key, suggestionFor(key));
  }

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& detail) const {
    throw ConfigError(source_, displayPrefix_ + key, detail);
  }

  void applySection(const std::string& key, const YAML::Node& node) {
    // A section whose keys are all commented out parses as null; that just means defaults.
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      fail(key, std::string(key.empty() ? "expected a map of settings at the top level"
                                        : "expected a map of settings") +
                    ", got " + describe(node));
    }
    // yaml-cpp keeps duplicate keys; by YAML's rules they are an error, and silently letting the
    // later one win would hide a copy-paste mistake.
    std::set<std::string> names;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        fail(key, "expected string keys, got " + describe(entry.first) + " as a key");
      }
      const std::string& name = entry.first.Scalar();
      const std::string child = joinKey(key, name);
      if (!names.insert(name).second) fail(child, "duplicate key");
      apply(child, entry.second);
    }
  }

  void applyPluginSection(const std::string& key, const std::string& plugin,
                          const YAML::Node& node) {
    if (node.IsNull()) return;
    if (!node.IsMap()) fail(key, "expected a map of plugin options, got " + describe(node));
    std::set<std::string> names;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        fail(key, "expected string keys, got " + describe(entry.first) + " as a key");
      }
      const std::string& name = entry.first.Scalar();
      if (!names.insert(name).second) fail(joinKey(key, name), "duplicate key");
      applyPluginOption(joinKey(key, name), plugin, name, entry.second);
    }
  }

  void applyPluginOption(const std::string& key, const std::string& plugin, std::string_view name,
                         const YAML::Node& node) {
    // Flat on purpose: the file cannot nest maps here, so `--set bus.redis.a.b=...` cannot either.
    if (name.empty() || name.find('.') != std::string_view::npos) {
      fail(key, "plugin options are flat; expected " + joinKey(kBusSection, plugin) + ".<option>");
    }
    if (node.IsMap() || node.IsSequence()) {
      fail(key, "expected a scalar plugin option, got " + describe(node));
    }
    // An option written with no value (`password:`) is the empty string; the plugin decides.
    state_.pluginOptions[plugin][std::string(name)] = node.IsScalar() ? node.Scalar() : "";
  }

  void applySetting(const Setting& setting, const YAML::Node& node) {
    const std::string key(setting.key);
    switch (setting.kind) {
      case Kind::kInteger: {
        const std::optional<std::int64_t> value =
            isPlainScalar(node) ? parseInteger(node.Scalar()) : std::nullopt;
        if (!value || *value < setting.min || *value > setting.max) {
          std::string detail = "expected an integer in [" + std::to_string(setting.min) + ", " +
                               std::to_string(setting.max) + "], got " + describe(node);
          if (node.IsScalar() && !isPlainScalar(node) && parseInteger(node.Scalar())) {
            detail += " (quoted, so a string; remove the quotes)";
          }
          fail(key, detail);
        }
        setting.setInteger(state_.config, *value);
        return;
      }
      case Kind::kText: {
        // A plain scalar that looks like a number is still accepted as text (node_id: 42).
        if (!node.IsScalar() || !setting.rule.accepts(node.Scalar())) {
          fail(key, "expected " + std::string(setting.rule.expected) + ", got " + describe(node));
        }
        setting.setText(state_.config, std::string(node.Scalar()));
        return;
      }
      case Kind::kTextList: {
        std::vector<std::string> values;
        if (node.IsSequence()) {
          for (std::size_t i = 0; i < node.size(); ++i) {
            const YAML::Node item = node[i];
            if (!item.IsScalar() || !setting.rule.accepts(item.Scalar())) {
              fail(key + "[" + std::to_string(i) + "]",
                   "expected " + std::string(setting.rule.expected) + ", got " + describe(item));
            }
            values.push_back(item.Scalar());
          }
        } else if (!node.IsNull()) {
          fail(key, "expected a list, each item " + std::string(setting.rule.expected) + ", got " +
                        describe(node));
        }
        setting.setTextList(state_.config, std::move(values));
        return;
      }
      case Kind::kChoice: {
        const bool allowed =
            node.IsScalar() && std::find(setting.choices.begin(), setting.choices.end(),
                                         node.Scalar()) != setting.choices.end();
        if (!allowed) {
          fail(key, "expected one of " + joinChoices(setting.choices) + ", got " + describe(node));
        }
        setting.setText(state_.config, std::string(node.Scalar()));
        return;
      }
    }
  }

  LoadState& state_;
  std::string source_;
  std::string displayPrefix_;
};

// Each rule is applied to a copy of the resolved Config, so its unset keys are the top-level
// values; only its history and presence keys (and `match`) are allowed.
void applyRoomRules(LoadState& state) {
  if (!state.roomRules) return;
  const auto& [node, source] = *state.roomRules;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string where = std::string(kRoomRules) + "[" + std::to_string(i) + "]";
    const YAML::Node item = node[i];
    if (!item.IsMap()) {
      throw ConfigError(
          source, where,
          "expected a map with match and history/presence keys, got " + describe(item));
    }
    const YAML::Node match = item["match"];
    if (!match || !match.IsScalar() || !kRoomMatch.accepts(match.Scalar())) {
      throw ConfigError(source, where + ".match",
                        "expected " + std::string(kRoomMatch.expected) + ", got " +
                            (match ? describe(match) : std::string("nothing")));
    }
    LoadState scratch;
    scratch.config = state.config;
    TreeApplier applier(scratch, source, where + ".");
    std::set<std::string> names;
    for (const auto& entry : item) {
      const std::string name = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
      if (!names.insert(name).second)
        throw ConfigError(source, where + "." + name, "duplicate key");
      if (name == "match") continue;
      if (name != "history" && name != "presence") {
        throw ConfigError(source, where + "." + name,
                          "unknown key in a room rule (expected match, history or presence)");
      }
      applier.apply(name, entry.second);
    }
    state.config.rooms.rules.push_back({match.Scalar(), scratch.config.rooms.defaults});
  }
}

ConfigError yamlError(const std::string& source, const std::string& key, const std::string& what,
                      const YAML::Exception& error) {
  std::string detail = what;
  if (!error.mark.is_null()) {
    // yaml-cpp counts from 0; editors count from 1.
    detail += " at line " + std::to_string(error.mark.line + 1) + ", column " +
              std::to_string(error.mark.column + 1);
  }
  return ConfigError(source, key, detail + ": " + error.msg);
}

// The number of YAML documents in `yaml`. Not YAML::LoadAll: in yaml-cpp 0.7 it never returns when
// the parser stops consuming input (a stray ',' outside [] or {}; jbeder/yaml-cpp#1319, fixed in
// 0.8) and appends empty documents until memory runs out. A document that starts where the previous
// one started is that case: a syntax error. Found by tests/fuzz/config_loader.
std::size_t countDocuments(const std::string& yaml) {
  struct DocumentStarts : YAML::EventHandler {
    void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
    YAML::Mark start;
  };
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentStarts handler;
  std::size_t count = 0;
  std::optional<int> previousStart;
  while (parser.HandleNextDocument(handler)) {
    if (previousStart == handler.start.pos) {
      throw YAML::ParserException(handler.start, "unexpected token");
    }
    previousStart = handler.start.pos;
    ++count;
  }
  return count;
}

void applyOverride(LoadState& state, const std::string& override) {
  const std::size_t equals = override.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ConfigError(std::string(kOverrideSource), "",
                      "malformed override " + quote(override) + ", expected dotted.key=value");
  }
  const std::string key = override.substr(0, equals);
  const std::string value = override.substr(equals + 1);
  YAML::Node node;
  try {
    node = YAML::Load(value);
  } catch (const YAML::Exception& error) {
    throw yamlError(std::string(kOverrideSource), key, "cannot parse value " + quote(value), error);
  }
  TreeApplier(state, std::string(kOverrideSource)).apply(key, node);
}

}  // namespace

Config loadConfigFromString(const std::string& yaml, const std::string& sourceName,
                            const std::vector<std::string>& overrides) {
  std::size_t documents = 0;
  YAML::Node document;
  try {
    documents = countDocuments(yaml);
    if (documents == 1) document = YAML::Load(yaml);
  } catch (const YAML::Exception& error) {
    throw yamlError(sourceName, "", "YAML syntax error", error);
  }
  if (documents > 1) {
    throw ConfigError(sourceName, "",
                      "expected one YAML document, found " + std::to_string(documents));
  }

  LoadState state;
  if (documents == 1) TreeApplier(state, sourceName).apply("", document);
  for (const std::string& override : overrides) applyOverride(state, override);

  state.config.bus.options = std::move(state.pluginOptions[state.config.bus.plugin]);
  applyRoomRules(state);
  return std::move(state.config);
}

Config loadConfig(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path, "", "cannot read config file: it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    throw ConfigError(path, "", std::string("cannot open config file: ") + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw ConfigError(path, "", std::string("cannot read config file: ") + std::strerror(errno));
  }
  return loadConfigFromString(text.str(), path, overrides);
}

}  // namespace heimdallr::config
