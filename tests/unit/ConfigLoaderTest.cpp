#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/ConfigLoader.h"

#ifndef HEIMDALLR_SOURCE_DIR
#define HEIMDALLR_SOURCE_DIR "."
#endif

namespace heimdallr::config {
namespace {

using namespace std::chrono_literals;

constexpr const char* kSource = "conf/test.yaml";

Config load(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return loadConfigFromString(yaml, kSource, overrides);
}

// The ConfigError thrown by loading, so tests can compare the whole message a user would see.
std::optional<ConfigError> errorFrom(const std::string& yaml,
                                     const std::vector<std::string>& overrides = {}) {
  try {
    load(yaml, overrides);
  } catch (const ConfigError& error) {
    return error;
  }
  return std::nullopt;
}

std::string messageFrom(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  const std::optional<ConfigError> error = errorFrom(yaml, overrides);
  return error ? error->what() : "<no error>";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A file in the temp directory that is removed when the test ends, even when it fails.
class TempFile {
 public:
  explicit TempFile(const std::string& contents)
      : path_(std::filesystem::temp_directory_path() /
              ("heimdallr_config_test_" + std::to_string(::getpid()) + "_" +
               std::to_string(counter_++) + ".yaml")) {
    std::ofstream(path_) << contents;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

void expectDefaults(const Config& config) {
  EXPECT_EQ(config.server.host, "0.0.0.0");
  EXPECT_EQ(config.server.port, 8000);
  EXPECT_EQ(config.server.ioThreads, 0);
  EXPECT_EQ(config.server.httpThreads, 1);
  EXPECT_EQ(config.server.nodeId, "");
  EXPECT_EQ(config.server.drainTimeout, 10s);
  EXPECT_TRUE(config.server.allowedOrigins.empty());
  EXPECT_EQ(config.limits.maxMessageBytes, 65536u);
  EXPECT_EQ(config.limits.maxConnections, 100000u);
  EXPECT_EQ(config.limits.maxConnectionsPerIp, 0u);
  EXPECT_EQ(config.limits.messagesPerSecond, 200u);
  EXPECT_EQ(config.limits.burst, 1000u);
  EXPECT_EQ(config.limits.rateLimitAction, "close");
  EXPECT_EQ(config.limits.sendQueueBytes, 1048576u);
  EXPECT_EQ(config.limits.idleTimeout, 60s);
  EXPECT_EQ(config.limits.maxHeaderBytes, 8192u);
  EXPECT_EQ(config.limits.handshakeTimeout, 10000ms);
  EXPECT_EQ(config.limits.maxApiBodyBytes, 262144u);
  EXPECT_FALSE(config.auth.enabled);
  EXPECT_EQ(config.auth.hmacSecretFile, "");
  EXPECT_EQ(config.auth.rsaPublicKeyFile, "");
  EXPECT_EQ(config.auth.ecPublicKeyFile, "");
  EXPECT_EQ(config.auth.leeway, 5s);
  EXPECT_EQ(config.auth.audience, "");
  EXPECT_EQ(config.auth.issuer, "");
  EXPECT_EQ(config.api.keyFile, "");
  EXPECT_EQ(config.api.listen, "");
  EXPECT_EQ(config.bus.plugin, "redis");
  EXPECT_EQ(config.bus.pluginDir, "build/plugins");
  EXPECT_TRUE(config.bus.options.empty());
  EXPECT_EQ(config.log.level, "information");
  EXPECT_EQ(config.stats.interval, 2s);
  EXPECT_EQ(config.web.root, "web");
  EXPECT_EQ(config.limits.maxRoomsPerConnection, 100u);
  EXPECT_EQ(config.rooms.defaults, RoomPolicy{});
  EXPECT_EQ(config.rooms.defaults.historyTtl, 300s);
  EXPECT_EQ(config.rooms.defaults.presenceTtl, 60s);
  EXPECT_TRUE(config.rooms.rules.empty());
}

// --- defaults and the shipped file ---

TEST(ConfigLoader, default_constructed_config_has_documented_defaults) { expectDefaults(Config{}); }

TEST(ConfigLoader, empty_document_yields_all_defaults) {
  expectDefaults(load(""));
  expectDefaults(load("# nothing but a comment\n"));
}

TEST(ConfigLoader, empty_sections_yield_defaults) {
  expectDefaults(load("server:\nlimits:\nbus:\n  inmem:\n  redis:\nlog:\nstats:\nweb:\n"));
}

TEST(ConfigLoader, shipped_config_loads_and_matches_the_defaults) {
  Config shipped = loadConfig(HEIMDALLR_SOURCE_DIR "/conf/heimdallr.yaml", {});
  // The shipped file spells out the redis plugin's options at their defaults.
  EXPECT_EQ((std::map<std::string, std::string>{{"host", "127.0.0.1"},
                                                {"port", "6379"},
                                                {"username", ""},
                                                {"password", ""},
                                                {"connect_timeout_ms", "2000"},
                                                {"storage_timeout_ms", "5000"},
                                                {"channel_prefix", "heimdallr"},
                                                {"max_pending_bytes", "8388608"}}),
            shipped.bus.options);
  shipped.bus.options.clear();
  expectDefaults(shipped);
}

TEST(ConfigLoader, shipped_config_takes_redis_options_by_override) {
  const Config config = loadConfig(HEIMDALLR_SOURCE_DIR "/conf/heimdallr.yaml",
                                   {"bus.redis.host=10.0.0.5", "bus.redis.port=6380"});
  EXPECT_EQ(config.bus.plugin, "redis");
  EXPECT_EQ("10.0.0.5", config.bus.options.at("host"));
  EXPECT_EQ("6380", config.bus.options.at("port"));
  EXPECT_EQ("heimdallr", config.bus.options.at("channel_prefix"));  // the rest from the file
}

TEST(ConfigLoader, shipped_config_is_one_line_away_from_the_inmem_bus) {
  const Config config =
      loadConfig(HEIMDALLR_SOURCE_DIR "/conf/heimdallr.yaml", {"bus.plugin=inmem"});
  EXPECT_EQ(config.bus.plugin, "inmem");
  EXPECT_EQ((std::map<std::string, std::string>{{"max_pending", "100000"}}), config.bus.options);
}

TEST(ConfigLoader, reads_every_key_from_the_file) {
  const Config config = load(R"(
server:
  host: 127.0.0.1
  port: 9001
  io_threads: 4
  http_threads: 2
  node_id: node-a_1-X
  drain_s: 30
  allowed_origins: ["https://chat.example.com", "http://localhost:8000"]
limits:
  max_message_bytes: 1024
  max_connections: 50
  max_connections_per_ip: 7
  messages_per_second: 10
  burst: 3
  rate_limit_action: close
  send_queue_bytes: 4096
  idle_timeout_s: 0
  max_header_bytes: 512
  handshake_timeout_ms: 250
bus:
  plugin: redis
  plugin_dir: /opt/heimdallr/plugins
log:
  level: debug
stats:
  interval_s: 5
web:
  root: /srv/web
)");
  EXPECT_EQ(config.server.host, "127.0.0.1");
  EXPECT_EQ(config.server.port, 9001);
  EXPECT_EQ(config.server.ioThreads, 4);
  EXPECT_EQ(config.server.httpThreads, 2);
  EXPECT_EQ(config.server.nodeId, "node-a_1-X");
  EXPECT_EQ(config.server.drainTimeout, 30s);
  EXPECT_EQ((std::vector<std::string>{"https://chat.example.com", "http://localhost:8000"}),
            config.server.allowedOrigins);
  EXPECT_EQ(config.limits.maxMessageBytes, 1024u);
  EXPECT_EQ(config.limits.maxConnections, 50u);
  EXPECT_EQ(config.limits.maxConnectionsPerIp, 7u);
  EXPECT_EQ(config.limits.messagesPerSecond, 10u);
  EXPECT_EQ(config.limits.burst, 3u);
  EXPECT_EQ(config.limits.rateLimitAction, "close");
  EXPECT_EQ(config.limits.sendQueueBytes, 4096u);
  EXPECT_EQ(config.limits.idleTimeout, 0s);
  EXPECT_EQ(config.limits.maxHeaderBytes, 512u);
  EXPECT_EQ(config.limits.handshakeTimeout, 250ms);
  EXPECT_EQ(config.bus.plugin, "redis");
  EXPECT_EQ(config.bus.pluginDir, "/opt/heimdallr/plugins");
  EXPECT_EQ(config.log.level, "debug");
  EXPECT_EQ(config.stats.interval, 5s);
  EXPECT_EQ(config.web.root, "/srv/web");
}

TEST(ConfigLoader, accepts_both_ends_of_every_range) {
  const Config low = load(
      "server: {port: 0, io_threads: 0, http_threads: 1, drain_s: 0}\n"
      "limits: {max_message_bytes: 1, max_connections: 1, send_queue_bytes: 1024,"
      " idle_timeout_s: 0, max_header_bytes: 256, handshake_timeout_ms: 100}\n"
      "stats: {interval_s: 1}\n");
  EXPECT_EQ(low.server.port, 0);
  EXPECT_EQ(low.limits.sendQueueBytes, 1024u);
  EXPECT_EQ(low.limits.handshakeTimeout, 100ms);
  EXPECT_EQ(low.stats.interval, 1s);

  const Config high = load(
      "server: {port: 65535, io_threads: 256, http_threads: 64, drain_s: 3600}\n"
      "limits: {max_message_bytes: 67108864, max_connections: 10000000,"
      " send_queue_bytes: 1073741824, idle_timeout_s: 86400, max_header_bytes: 1048576,"
      " handshake_timeout_ms: 600000}\n"
      "stats: {interval_s: 3600}\n");
  EXPECT_EQ(high.server.port, 65535);
  EXPECT_EQ(high.server.ioThreads, 256);
  EXPECT_EQ(high.server.httpThreads, 64);
  EXPECT_EQ(high.server.drainTimeout, 3600s);
  EXPECT_EQ(high.limits.maxMessageBytes, 67108864u);
  EXPECT_EQ(high.limits.maxConnections, 10000000u);
  EXPECT_EQ(high.limits.sendQueueBytes, 1073741824u);
  EXPECT_EQ(high.limits.idleTimeout, 86400s);
  EXPECT_EQ(high.limits.maxHeaderBytes, 1048576u);
  EXPECT_EQ(high.limits.handshakeTimeout, 600000ms);
  EXPECT_EQ(high.stats.interval, 3600s);
}

TEST(ConfigLoader, allowed_origins_take_a_flow_list_by_override_and_empty_means_all) {
  EXPECT_EQ((std::vector<std::string>{"http://a.example:8080", "https://B.example"}),
            load("", {"server.allowed_origins=[http://a.example:8080, https://B.example]"})
                .server.allowedOrigins);
  EXPECT_TRUE(
      load("server: {allowed_origins: [\"https://a.example\"]}", {"server.allowed_origins="})
          .server.allowedOrigins.empty());
  EXPECT_TRUE(load("server: {allowed_origins: []}").server.allowedOrigins.empty());
}

TEST(ConfigLoader, rejects_an_allowed_origin_that_is_not_scheme_host_port_and_names_its_index) {
  EXPECT_EQ(
      "conf/test.yaml: server.allowed_origins[1]: expected an origin such as "
      "\"https://chat.example.com\" (scheme://host[:port]), got \"https://b.example/chat\"",
      messageFrom(
          "server: {allowed_origins: [\"https://a.example\", \"https://b.example/chat\"]}"));
  EXPECT_TRUE(contains(messageFrom("server: {allowed_origins: [chat.example.com]}"),
                       "server.allowed_origins[0]: expected an origin"));
  EXPECT_TRUE(contains(messageFrom("server: {allowed_origins: [[\"https://a.example\"]]}"),
                       "server.allowed_origins[0]"));
}

TEST(ConfigLoader, rejects_a_single_origin_that_is_not_a_list) {
  EXPECT_EQ(
      "conf/test.yaml: server.allowed_origins: expected a list, each item an origin such as "
      "\"https://chat.example.com\" (scheme://host[:port]), got \"https://a.example\"",
      messageFrom("server: {allowed_origins: \"https://a.example\"}"));
}

TEST(ConfigLoader, rate_limit_keys_check_their_ranges_and_actions) {
  EXPECT_EQ(0u, load("limits: {messages_per_second: 0}").limits.messagesPerSecond);
  EXPECT_TRUE(
      contains(messageFrom("limits: {burst: 0}"), "limits.burst: expected an integer in [1,"));
  EXPECT_EQ("conf/test.yaml: limits.rate_limit_action: expected one of drop, close, got \"kick\"",
            messageFrom("limits: {rate_limit_action: kick}"));
  EXPECT_TRUE(contains(messageFrom("limits: {max_connections_per_ip: -1}"),
                       "limits.max_connections_per_ip: expected an integer in [0, 10000000]"));
}

TEST(ConfigLoader, accepts_every_log_level) {
  for (const char* level : {"trace", "debug", "information", "notice", "warning", "error",
                            "critical", "fatal", "none"}) {
    EXPECT_EQ(load(std::string("log: {level: ") + level + "}").log.level, level);
  }
}

TEST(ConfigLoader, accepts_a_number_like_node_id_as_text) {
  EXPECT_EQ(load("server: {node_id: 42}").server.nodeId, "42");
}

// --- errors name the file and the key ---

TEST(ConfigLoader, rejects_unknown_key_and_names_it) {
  const std::optional<ConfigError> error = errorFrom("limits:\n  max_mesage_bytes: 5\n");
  ASSERT_TRUE(error);
  EXPECT_EQ(std::string(error->what()),
            "conf/test.yaml: unknown key \"limits.max_mesage_bytes\""
            " (did you mean \"limits.max_message_bytes\"?)");
  EXPECT_EQ(error->source(), kSource);
  EXPECT_EQ(error->key(), "limits.max_mesage_bytes");
}

TEST(ConfigLoader, suggests_the_right_section_for_a_misplaced_key) {
  EXPECT_EQ(messageFrom("port: 9000\n"),
            "conf/test.yaml: unknown key \"port\" (did you mean \"server.port\"?)");
}

TEST(ConfigLoader, rejects_unknown_section) {
  EXPECT_EQ(messageFrom("tracing:\n  enabled: true\n"), "conf/test.yaml: unknown key \"tracing\"");
}

TEST(ConfigLoader, metrics_enabled_is_a_yaml_boolean) {
  EXPECT_TRUE(load("").metrics.enabled);
  EXPECT_FALSE(load("metrics:\n  enabled: false\n").metrics.enabled);
  EXPECT_NE(std::string::npos, messageFrom("metrics:\n  enabled: maybe\n").find("metrics.enabled"));
}

TEST(ConfigLoader, rejects_string_where_integer_expected) {
  const std::optional<ConfigError> error = errorFrom("limits:\n  max_message_bytes: abc\n");
  ASSERT_TRUE(error);
  EXPECT_EQ(std::string(error->what()),
            "conf/test.yaml: limits.max_message_bytes: expected an integer in [1, 67108864], "
            "got \"abc\"");
  EXPECT_EQ(error->key(), "limits.max_message_bytes");
}

TEST(ConfigLoader, rejects_float_where_integer_expected) {
  EXPECT_EQ(messageFrom("server: {port: 80.5}"),
            "conf/test.yaml: server.port: expected an integer in [0, 65535], got \"80.5\"");
}

TEST(ConfigLoader, rejects_hex_and_size_suffixes_because_integers_are_plain_decimal) {
  EXPECT_TRUE(contains(messageFrom("server: {port: 0x50}"), "server.port: expected an integer"));
  EXPECT_TRUE(contains(messageFrom("limits: {max_message_bytes: 64k}"),
                       "limits.max_message_bytes: expected an integer"));
}

TEST(ConfigLoader, rejects_quoted_integer_and_says_why) {
  EXPECT_EQ(messageFrom("server: {port: \"8000\"}"),
            "conf/test.yaml: server.port: expected an integer in [0, 65535], got \"8000\" "
            "(quoted, so a string; remove the quotes)");
}

TEST(ConfigLoader, rejects_map_or_list_where_integer_expected) {
  EXPECT_EQ(messageFrom("server:\n  port:\n    value: 1\n"),
            "conf/test.yaml: server.port: expected an integer in [0, 65535], got a map");
  EXPECT_EQ(messageFrom("server: {io_threads: [1, 2]}"),
            "conf/test.yaml: server.io_threads: expected an integer in [0, 256], got a list");
}

TEST(ConfigLoader, rejects_list_where_string_expected) {
  EXPECT_EQ(messageFrom("server: {host: [a, b]}"),
            "conf/test.yaml: server.host: expected a non-empty string, got a list");
}

TEST(ConfigLoader, rejects_key_without_a_value) {
  EXPECT_EQ(messageFrom("server:\n  port:\n"),
            "conf/test.yaml: server.port: expected an integer in [0, 65535], got null");
  EXPECT_EQ(messageFrom("web:\n  root:\n"),
            "conf/test.yaml: web.root: expected a non-empty string, got null");
}

TEST(ConfigLoader, rejects_empty_string_where_a_path_or_host_is_needed) {
  EXPECT_EQ(messageFrom("server: {host: \"\"}"),
            "conf/test.yaml: server.host: expected a non-empty string, got \"\"");
  EXPECT_TRUE(contains(messageFrom("bus: {plugin_dir: ''}"), "bus.plugin_dir: expected"));
}

TEST(ConfigLoader, rejects_integer_out_of_range_at_either_end) {
  EXPECT_EQ(messageFrom("server: {port: 65536}"),
            "conf/test.yaml: server.port: expected an integer in [0, 65535], got \"65536\"");
  EXPECT_EQ(messageFrom("server: {http_threads: 0}"),
            "conf/test.yaml: server.http_threads: expected an integer in [1, 64], got \"0\"");
  EXPECT_EQ(messageFrom("limits: {send_queue_bytes: -1}"),
            "conf/test.yaml: limits.send_queue_bytes: expected an integer in [1024, 1073741824], "
            "got \"-1\"");
  EXPECT_EQ(messageFrom("stats: {interval_s: 0}"),
            "conf/test.yaml: stats.interval_s: expected an integer in [1, 3600], got \"0\"");
  EXPECT_EQ(messageFrom("stats: {interval_s: 3601}"),
            "conf/test.yaml: stats.interval_s: expected an integer in [1, 3600], got \"3601\"");
}

TEST(ConfigLoader, rejects_integer_too_large_for_64_bits_as_out_of_range) {
  EXPECT_TRUE(contains(messageFrom("limits: {max_connections: 99999999999999999999999}"),
                       "limits.max_connections: expected an integer in [1, 10000000], got"));
}

TEST(ConfigLoader, rejects_enum_value_not_in_the_allowed_set) {
  EXPECT_EQ(messageFrom("log: {level: info}"),
            "conf/test.yaml: log.level: expected one of trace, debug, information, notice, "
            "warning, error, critical, fatal, none, got \"info\"");
  EXPECT_EQ(messageFrom("bus: {plugin: nats}"),
            "conf/test.yaml: bus.plugin: expected one of inmem, redis, got \"nats\"");
}

TEST(ConfigLoader, rejects_node_id_with_characters_outside_the_allowed_set) {
  EXPECT_EQ(messageFrom("server: {node_id: \"node 1\"}"),
            "conf/test.yaml: server.node_id: expected 1-64 characters from [A-Za-z0-9_-], or "
            "\"\" for hostname-pid, got \"node 1\"");
  EXPECT_TRUE(contains(messageFrom("server: {node_id: " + std::string(65, 'a') + "}"),
                       "server.node_id: expected 1-64 characters"));
  EXPECT_EQ(load("server: {node_id: " + std::string(64, 'a') + "}").server.nodeId.size(), 64u);
}

TEST(ConfigLoader, rejects_node_id_with_a_dot_because_it_is_a_bus_subject_token) {
  EXPECT_EQ(messageFrom("server: {node_id: node-a.example}"),
            "conf/test.yaml: server.node_id: expected 1-64 characters from [A-Za-z0-9_-], or "
            "\"\" for hostname-pid, got \"node-a.example\"");
  EXPECT_TRUE(contains(messageFrom("", {"server.node_id=a.b"}), "--set: server.node_id: expected"));
}

TEST(ConfigLoader, rejects_scalar_where_a_section_is_expected) {
  EXPECT_EQ(messageFrom("server: 8000\n"),
            "conf/test.yaml: server: expected a map of settings, got \"8000\"");
}

TEST(ConfigLoader, rejects_a_top_level_that_is_not_a_map) {
  EXPECT_EQ(messageFrom("- a\n- b\n"),
            "conf/test.yaml: expected a map of settings at the top level, got a list");
}

TEST(ConfigLoader, rejects_duplicate_key_instead_of_letting_one_win) {
  EXPECT_EQ(messageFrom("server:\n  port: 1\n  port: 2\n"),
            "conf/test.yaml: server.port: duplicate key");
}

TEST(ConfigLoader, rejects_more_than_one_yaml_document) {
  EXPECT_EQ(messageFrom("server: {port: 1}\n---\nserver: {port: 2}\n"),
            "conf/test.yaml: expected one YAML document, found 2");
}

// Found by tests/fuzz/config_loader: yaml-cpp 0.7's LoadAll never returned on a stray ',' outside
// [] or {} (jbeder/yaml-cpp#1319); it appended empty documents until memory ran out.
TEST(ConfigLoader, stray_comma_is_a_syntax_error_instead_of_a_hang) {
  EXPECT_EQ(messageFrom(","),
            "conf/test.yaml: YAML syntax error at line 1, column 1: unexpected token");
  EXPECT_EQ(messageFrom(",imits:\n  ma8_message_bytes: 67108865\n"),
            "conf/test.yaml: YAML syntax error at line 1, column 1: unexpected token");
  EXPECT_EQ(messageFrom("server: {port: 1}\n...\n,"),
            "conf/test.yaml: YAML syntax error at line 3, column 1: unexpected token");
  // Empty documents after the first still count as documents.
  EXPECT_EQ(messageFrom("server: {port: 1}\n---\n---\n"),
            "conf/test.yaml: expected one YAML document, found 3");
}

TEST(ConfigLoader, escapes_control_characters_and_truncates_long_values_in_messages) {
  const std::string message = messageFrom("log: {level: \"a\\tb\"}");
  EXPECT_TRUE(contains(message, "got \"a\\x09b\"")) << message;
  const std::string longMessage = messageFrom("log: {level: " + std::string(500, 'x') + "}");
  EXPECT_TRUE(contains(longMessage, std::string(80, 'x') + "...\"")) << longMessage;
  EXPECT_FALSE(contains(longMessage, std::string(81, 'x')));
}

// --- overrides ---

TEST(ConfigLoader, overrides_win_over_the_file) {
  const Config config = load("server: {port: 9000, host: 10.0.0.1}\nlog: {level: warning}\n",
                             {"server.port=9100", "log.level=trace", "limits.idle_timeout_s=5"});
  EXPECT_EQ(config.server.port, 9100);
  EXPECT_EQ(config.server.host, "10.0.0.1");
  EXPECT_EQ(config.log.level, "trace");
  EXPECT_EQ(config.limits.idleTimeout, 5s);
}

TEST(ConfigLoader, later_override_wins_over_earlier_one) {
  EXPECT_EQ(load("", {"server.port=1", "server.port=2"}).server.port, 2);
}

TEST(ConfigLoader, override_value_may_contain_equals_signs) {
  const Config config = load("bus: {plugin: redis}", {"bus.redis.password=a=b="});
  EXPECT_EQ(config.bus.options.at("password"), "a=b=");
}

TEST(ConfigLoader, override_can_set_a_whole_section_as_a_flow_map) {
  const Config config = load("", {"limits={max_connections: 7, idle_timeout_s: 9}"});
  EXPECT_EQ(config.limits.maxConnections, 7u);
  EXPECT_EQ(config.limits.idleTimeout, 9s);
}

TEST(ConfigLoader, override_type_error_names_set_instead_of_the_file) {
  const std::optional<ConfigError> error = errorFrom("", {"server.port=eighty"});
  ASSERT_TRUE(error);
  EXPECT_EQ(std::string(error->what()),
            "--set: server.port: expected an integer in [0, 65535], got \"eighty\"");
  EXPECT_EQ(error->source(), "--set");
  EXPECT_EQ(error->key(), "server.port");
}

TEST(ConfigLoader, override_out_of_range_and_bad_enum_name_set) {
  EXPECT_EQ(messageFrom("", {"limits.max_header_bytes=100"}),
            "--set: limits.max_header_bytes: expected an integer in [256, 1048576], got \"100\"");
  EXPECT_EQ(messageFrom("", {"bus.plugin=kafka"}),
            "--set: bus.plugin: expected one of inmem, redis, got \"kafka\"");
}

TEST(ConfigLoader, override_sets_the_stats_interval) {
  EXPECT_EQ(load("stats: {interval_s: 10}", {"stats.interval_s=1"}).stats.interval, 1s);
}

TEST(ConfigLoader, override_with_unknown_key_names_set) {
  EXPECT_EQ(messageFrom("", {"server.prot=1"}),
            "--set: unknown key \"server.prot\" (did you mean \"server.port\"?)");
}

TEST(ConfigLoader, override_without_equals_sign_is_malformed) {
  EXPECT_EQ(messageFrom("", {"server.port"}),
            "--set: malformed override \"server.port\", expected dotted.key=value");
  EXPECT_TRUE(contains(messageFrom("", {"=5"}), "--set: malformed override \"=5\""));
}

TEST(ConfigLoader, override_with_empty_value_is_null_and_rejected_for_an_integer) {
  EXPECT_EQ(messageFrom("", {"server.port="}),
            "--set: server.port: expected an integer in [0, 65535], got null");
}

TEST(ConfigLoader, override_with_unparsable_value_names_set_and_key) {
  const std::string message = messageFrom("", {"server.host=[unclosed"});
  EXPECT_TRUE(contains(message, "--set: server.host: cannot parse value \"[unclosed\"")) << message;
}

TEST(ConfigLoader, file_errors_are_reported_before_overrides_are_applied) {
  EXPECT_TRUE(contains(messageFrom("server: {port: x}", {"server.port=1"}), "conf/test.yaml:"));
}

// --- bus plugin options ---

TEST(ConfigLoader, passes_options_of_the_chosen_plugin_through_as_text) {
  const Config config = load(R"(
bus:
  plugin: redis
  redis:
    host: 127.0.0.1
    port: 6379
    password: "s3cret: yes"
    username:
    connect_timeout_ms: 2000
  inmem:
    ignored: 1
)");
  EXPECT_EQ(config.bus.options,
            (std::map<std::string, std::string>{{"host", "127.0.0.1"},
                                                {"port", "6379"},
                                                {"password", "s3cret: yes"},
                                                {"username", ""},
                                                {"connect_timeout_ms", "2000"}}));
}

TEST(ConfigLoader, drops_options_of_plugins_that_are_not_chosen) {
  const Config config = load("bus:\n  plugin: inmem\n  redis:\n    host: 10.0.0.9\n");
  EXPECT_EQ(config.bus.plugin, "inmem");
  EXPECT_TRUE(config.bus.options.empty());
}

TEST(ConfigLoader, plugin_chosen_by_override_picks_up_options_from_the_file) {
  const Config config =
      load("bus:\n  redis:\n    host: 10.0.0.9\n", {"bus.plugin=redis", "bus.redis.port=7000"});
  EXPECT_EQ(config.bus.options,
            (std::map<std::string, std::string>{{"host", "10.0.0.9"}, {"port", "7000"}}));
}

TEST(ConfigLoader, rejects_options_section_for_an_unknown_plugin) {
  EXPECT_EQ(messageFrom("bus:\n  nats:\n    url: x\n"), "conf/test.yaml: unknown key \"bus.nats\"");
  EXPECT_TRUE(contains(messageFrom("", {"bus.nats.url=x"}), "--set: unknown key \"bus.nats.url\""));
}

TEST(ConfigLoader, rejects_nested_values_in_plugin_options) {
  EXPECT_EQ(messageFrom("bus:\n  redis:\n    tls:\n      ca: /x\n"),
            "conf/test.yaml: bus.redis.tls: expected a scalar plugin option, got a map");
  EXPECT_EQ(messageFrom("bus:\n  redis:\n    hosts: [a, b]\n"),
            "conf/test.yaml: bus.redis.hosts: expected a scalar plugin option, got a list");
  EXPECT_TRUE(contains(messageFrom("", {"bus.redis.tls.ca=/x"}),
                       "--set: bus.redis.tls.ca: plugin options are flat"));
}

TEST(ConfigLoader, rejects_scalar_where_plugin_options_map_is_expected) {
  EXPECT_EQ(messageFrom("bus: {redis: localhost}"),
            "conf/test.yaml: bus.redis: expected a map of plugin options, got \"localhost\"");
}

// --- reading files ---

TEST(ConfigLoader, loads_a_file_from_disk_and_names_it_in_errors) {
  const TempFile good("server:\n  port: 1234\n");
  EXPECT_EQ(loadConfig(good.path(), {}).server.port, 1234);

  const TempFile bad("server:\n  port: high\n");
  try {
    loadConfig(bad.path(), {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()),
              bad.path() + ": server.port: expected an integer in [0, 65535], got \"high\"");
    EXPECT_EQ(error.source(), bad.path());
  }
}

TEST(ConfigLoader, missing_file_is_an_error_naming_the_file) {
  const std::string path = "/nonexistent/heimdallr/missing.yaml";
  try {
    loadConfig(path, {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()),
              path + ": cannot open config file: No such file or directory");
    EXPECT_EQ(error.source(), path);
    EXPECT_EQ(error.key(), "");
  }
}

TEST(ConfigLoader, directory_instead_of_file_is_an_error_naming_it) {
  const std::string path = std::filesystem::temp_directory_path().string();
  try {
    loadConfig(path, {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()), path + ": cannot read config file: it is a directory");
  }
}

TEST(ConfigLoader, yaml_syntax_error_names_the_file_line_and_column) {
  EXPECT_EQ(messageFrom("server:\n  port: 1\n host: x\n"),
            "conf/test.yaml: YAML syntax error at line 3, column 2: end of map not found");

  const TempFile broken("limits:\n  max_connections: [1, 2\n");
  try {
    loadConfig(broken.path(), {});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_TRUE(message.starts_with(broken.path() + ": YAML syntax error at line ")) << message;
    EXPECT_TRUE(contains(message, ", column ")) << message;
  }
}

// --- auth and api ---

TEST(ConfigLoader, reads_the_auth_and_api_sections) {
  const Config config = load(R"(
auth:
  enabled: true
  hmac_secret_file: /run/secrets/jwt
  leeway_s: 30
  audience: chat
  issuer: https://auth.example.com
api:
  key_file: /run/secrets/api
  listen: "127.0.0.1:9001"
limits:
  max_api_body_bytes: 4096
)");
  EXPECT_TRUE(config.auth.enabled);
  EXPECT_EQ(config.auth.hmacSecretFile, "/run/secrets/jwt");
  EXPECT_EQ(config.auth.leeway, 30s);
  EXPECT_EQ(config.auth.audience, "chat");
  EXPECT_EQ(config.auth.issuer, "https://auth.example.com");
  EXPECT_EQ(config.api.keyFile, "/run/secrets/api");
  EXPECT_EQ(config.api.listen, "127.0.0.1:9001");
  EXPECT_EQ(config.limits.maxApiBodyBytes, 4096u);
}

TEST(ConfigLoader, api_listen_takes_host_and_port_with_bracketed_ipv6) {
  EXPECT_EQ(load("api: {listen: \"[::1]:0\"}").api.listen, "[::1]:0");
  for (const char* bad : {"9001", "127.0.0.1", "127.0.0.1:", ":9001", "::1:9001", "127.0.0.1:65536",
                          "127.0.0.1:90x1", "[::1:9001"}) {
    const std::optional<ConfigError> error =
        errorFrom(std::string("api:\n  listen: \"") + bad + "\"\n");
    ASSERT_TRUE(error) << bad;
    EXPECT_EQ(error->key(), "api.listen") << bad;
  }
}

TEST(ConfigLoader, auth_leeway_and_body_limit_are_range_checked) {
  EXPECT_EQ(errorFrom("auth: {leeway_s: 601}")->key(), "auth.leeway_s");
  EXPECT_EQ(errorFrom("auth: {enabled: yes}")->key(), "auth.enabled");
  EXPECT_EQ(errorFrom("limits: {max_api_body_bytes: 10}")->key(), "limits.max_api_body_bytes");
}

TEST(ConfigLoader, secrets_have_no_key_of_their_own) {
  // Only files and environment variables carry secrets: a value on the command line shows in ps.
  const std::optional<ConfigError> error = errorFrom("auth: {hmac_secret: hunter2hunter2}");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key(), "auth.hmac_secret");
}

}  // namespace
// --- history, presence and per-room rules ---

TEST(ConfigLoader, rooms_keep_no_history_or_presence_by_default) {
  const Config config = load("");
  EXPECT_FALSE(config.rooms.defaults.keepsHistory());
  EXPECT_FALSE(config.rooms.defaults.presence);
  EXPECT_FALSE(config.rooms.anyHistory());
  EXPECT_FALSE(config.rooms.anyPresence());
  EXPECT_EQ(&config.rooms.policyFor("42"), &config.rooms.defaults);
}

TEST(ConfigLoader, room_rules_first_match_wins_and_unset_keys_inherit_the_top_level) {
  // The top-level keys come after the rules in the file: a rule still inherits them.
  const Config config = load(
      "room_rules:\n"
      "  - match: \"live-*\"\n"
      "    history: {size: 100, join_messages: 10}\n"
      "  - match: \"live-big\"\n"
      "    history: {size: 1}\n"
      "  - match: lobby\n"
      "    presence: {enabled: true, join_leave: true}\n"
      "history:\n"
      "  ttl_s: 60\n"
      "presence:\n"
      "  ttl_s: 30\n");
  ASSERT_EQ(config.rooms.rules.size(), 3u);
  const RoomPolicy& live = config.rooms.policyFor("live-big");  // the first rule, not the second
  EXPECT_EQ(live.historySize, 100u);
  EXPECT_EQ(live.joinMessages, 10u);
  EXPECT_EQ(live.historyTtl, 60s);
  EXPECT_FALSE(live.presence);
  EXPECT_EQ(live.presenceTtl, 30s);
  const RoomPolicy& lobby = config.rooms.policyFor("lobby");
  EXPECT_TRUE(lobby.presence);
  EXPECT_TRUE(lobby.joinLeave);
  EXPECT_FALSE(lobby.keepsHistory());
  EXPECT_EQ(&config.rooms.policyFor("lobby2"), &config.rooms.defaults);  // exact, not a prefix
  EXPECT_EQ(&config.rooms.policyFor("live"), &config.rooms.defaults);    // "live-" is the prefix
  EXPECT_TRUE(config.rooms.anyHistory());
  EXPECT_TRUE(config.rooms.anyPresence());
}

TEST(ConfigLoader, room_rules_come_from_overrides_too) {
  const Config config =
      load("", {"history.size=5", "room_rules=[{match: \"raw-*\", history: {size: 0}}]"});
  EXPECT_EQ(config.rooms.policyFor("42").historySize, 5u);
  EXPECT_EQ(config.rooms.policyFor("raw-1").historySize, 0u);
  const Config star = load("room_rules: [{match: \"*\", presence: {enabled: true}}]\n");
  EXPECT_TRUE(star.rooms.policyFor("anything").presence);
}

TEST(ConfigLoader, bad_room_rules_name_the_rule_and_key) {
  EXPECT_EQ(messageFrom("room_rules: 5\n"),
            "conf/test.yaml: room_rules: expected a list of rules ({match: \"live-*\", history: "
            "{...}, presence: {...}}), got \"5\"");
  EXPECT_EQ(errorFrom("room_rules: [5]\n")->key(), "room_rules[0]");
  EXPECT_EQ(errorFrom("room_rules: [{history: {size: 1}}]\n")->key(), "room_rules[0].match");
  EXPECT_EQ(errorFrom("room_rules: [{match: \"a.b\"}]\n")->key(), "room_rules[0].match");
  EXPECT_EQ(errorFrom("room_rules: [{match: \"a*b\"}]\n")->key(), "room_rules[0].match");
  const std::optional<ConfigError> value =
      errorFrom("room_rules:\n  - match: a\n  - match: b\n    history: {size: -1}\n");
  ASSERT_TRUE(value);
  EXPECT_EQ(value->key(), "room_rules[1].history.size");
  EXPECT_TRUE(contains(value->what(), "expected an integer in [0, 1000000]")) << value->what();
  EXPECT_EQ(errorFrom("room_rules: [{match: a, limits: {burst: 1}}]\n")->key(),
            "room_rules[0].limits");
  EXPECT_EQ(errorFrom("room_rules: [{match: a, history: {sise: 1}}]\n")->key(),
            "room_rules[0].history.sise");
  EXPECT_EQ(errorFrom("room_rules: [{match: a, match: b}]\n")->key(), "room_rules[0].match");
  EXPECT_EQ(errorFrom("presence:\n  ttl_s: 1\n")->key(), "presence.ttl_s");
}

}  // namespace heimdallr::config
