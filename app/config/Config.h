#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace heimdallr::config {

/// Listening socket and thread layout. Plain data, not thread-safe; built once at start-up.
struct ServerConfig {
  std::string host = "0.0.0.0";
  /// 0 asks the kernel for a free port (tests read the bound port back from the server).
  int port = 8000;
  /// 0 means one I/O loop per core.
  int ioThreads = 0;
  /// Acceptor threads only: they accept TCP connections and hand them to the I/O loops. HTTP is
  /// served on the I/O loops so that keep-alive clients never park one of these threads.
  int httpThreads = 1;
  /// Empty means "hostname-pid", decided by the app; otherwise 1-64 of [A-Za-z0-9_-]. Bus
  /// messages carry it so a node never delivers its own message twice, and it is a subject token
  /// (`stats.<node_id>`), hence no dots.
  std::string nodeId;
  /// Graceful drain on SIGTERM/SIGINT: WebSocket clients are closed in batches spread over this
  /// long (1001 with a reconnect hint), then the process exits. 0 closes them all at once.
  std::chrono::seconds drainTimeout{10};
  /// Browser upgrades must carry one of these Origin values (compared case-insensitively); an
  /// upgrade without an Origin header (not a browser) is always allowed. Empty allows all.
  std::vector<std::string> allowedOrigins;
};

/// Per-connection and global resource limits. Plain data, not thread-safe.
struct LimitsConfig {
  std::size_t maxMessageBytes = 65536;
  std::size_t maxConnections = 100000;
  /// WebSocket sessions per client IP address; 0 means no limit. Behind a proxy every client
  /// shares the proxy's address, so leave it at 0 there and limit at the proxy.
  std::size_t maxConnectionsPerIp = 0;
  /// Token bucket per session for text and binary messages: `messagesPerSecond` tokens a second,
  /// at most `burst` saved up. 0 disables the limit.
  /// The defaults let an honest client send 1,000 messages at once (a paste, a replay after a
  /// reconnect) and deliver every one; past that it learns why (4029) instead of losing messages.
  std::size_t messagesPerSecond = 200;
  std::size_t burst = 1000;
  /// What happens to a message past the limit: "close" the session with 4029 (the default: the
  /// client sees it), or "drop" it (counted, reads paused; the client is not told).
  std::string rateLimitAction = "close";
  /// Bytes of queued outbound frames per session; past it the session is closed.
  std::size_t sendQueueBytes = 1048576;
  /// 0 disables. After this long without traffic a ping is sent; if nothing (pong or any frame)
  /// arrives within another idleTimeout, the connection is closed.
  std::chrono::seconds idleTimeout{60};
  std::size_t maxHeaderBytes = 8192;
  std::chrono::milliseconds handshakeTimeout{10000};
  /// Rooms one protocol-v2 connection may be in at once.
  std::size_t maxRoomsPerConnection = 100;
  /// Largest HTTP request body (the server API's JSON), by Content-Length; 413 beyond.
  std::size_t maxApiBodyBytes = 262144;
};

/// Who a client is and where it may go (JWT connect tokens). Plain data, not thread-safe. The
/// secrets themselves never live here, only where to read them: a file, or an environment
/// variable (HEIMDALLR_AUTH_HMAC_SECRET), so that `ps` never shows them.
struct AuthConfig {
  /// Off (the default): the ancestor's protocol, anyone may join any room.
  bool enabled = false;
  /// Exactly one key source when enabled: an HMAC secret (HS256/384/512), an RSA public key
  /// (RS256/384/512) or an EC P-256 public key (ES256), each a file path.
  std::string hmacSecretFile;
  std::string rsaPublicKeyFile;
  std::string ecPublicKeyFile;
  /// Clock skew tolerated on exp, nbf and iat.
  std::chrono::seconds leeway{5};
  /// Checked when non-empty: `aud` must contain it, `iss` must equal it.
  std::string audience;
  std::string issuer;
};

/// The authenticated HTTP server API (/api/*). Plain data, not thread-safe.
struct ApiConfig {
  /// A file holding the API key (or HEIMDALLR_API_KEY). No key: the API is off and /api/* is 404.
  std::string keyFile;
  /// "" serves the API on the main port. "host:port" serves /api/*, /metrics and /stats there
  /// only (and /health on both), so a public load balancer never exposes them.
  std::string listen;
};

/// Which bus plugin to load and its options. Plain data, not thread-safe.
struct BusConfig {
  /// "redis" (the cluster default) or "inmem" (one node).
  std::string plugin = "redis";
  /// Relative paths are relative to the current working directory, not to the config file.
  std::string pluginDir = "build/plugins";
  /// The scalars under `bus.<plugin>` for the chosen plugin only, keyed relative to that section
  /// ("host", "port"). Kept as text because only the plugin knows its schema and validates it.
  std::map<std::string, std::string> options;
};

struct LogConfig {
  /// One of trace, debug, information, notice, warning, error, critical, fatal, none (the POCO
  /// level names, so the value can be handed to Poco::Logger as is).
  std::string level = "information";
};

/// GET /stats?scope=cluster. Plain data, not thread-safe.
struct StatsConfig {
  /// How often this node publishes its counts on `stats.<node_id>`. A node not heard from for
  /// three intervals drops out of the cluster view.
  std::chrono::seconds interval{2};
};

struct MetricsConfig {
  /// Record metrics and serve GET /metrics. Off only to measure what recording costs.
  bool enabled = true;
};

struct WebConfig {
  /// Directory of static files for the demo page.
  std::string root = "web";
};

/// What a room keeps and tells: history (for recovery after a reconnect) and presence. Plain data.
/// The defaults keep nothing, so a raw-only deployment pays nothing for either.
struct RoomPolicy {
  /// Messages kept per room; 0 keeps no history (messages have no offsets, delivery is
  /// local-first as in the raw protocol).
  std::size_t historySize = 0;
  /// Kept messages expire this long after the room's newest message.
  std::chrono::seconds historyTtl{300};
  /// The room's epoch and newest offset outlive its messages by this much, so that a client
  /// coming back later learns it missed messages instead of seeing offsets start again.
  std::chrono::seconds historyMetaTtl{86400};
  /// The newest messages a v2 join without `since` gets (at most historySize).
  std::size_t joinMessages = 0;
  /// Track who is in the room, cluster-wide (v2 `presence`, `members` in the join reply).
  bool presence = false;
  /// A member not refreshed for this long (its node died) drops out of presence.
  std::chrono::seconds presenceTtl{60};
  /// Push join and leave events to v2 members: O(members) frames per event, so opt-in.
  bool joinLeave = false;

  bool keepsHistory() const { return historySize > 0; }
  bool operator==(const RoomPolicy&) const = default;
};

/// A room rule: rooms whose id matches `match` (an id, or a prefix followed by '*') get `policy`.
struct RoomRule {
  std::string match;
  RoomPolicy policy;
};

/// Per-room policies: the first rule that matches wins, else the defaults (the top-level
/// `history.*` and `presence.*` keys). Plain data.
struct RoomsConfig {
  RoomPolicy defaults;
  std::vector<RoomRule> rules;

  const RoomPolicy& policyFor(const std::string& roomId) const {
    for (const RoomRule& rule : rules) {
      const bool prefix = !rule.match.empty() && rule.match.back() == '*';
      if (prefix
              ? roomId.compare(0, rule.match.size() - 1, rule.match, 0, rule.match.size() - 1) == 0
              : roomId == rule.match) {
        return rule.policy;
      }
    }
    return defaults;
  }
  /// Whether any room may keep history or presence: the bus must then have Storage.
  bool anyHistory() const {
    return any([](const RoomPolicy& p) { return p.keepsHistory(); });
  }
  bool anyPresence() const {
    return any([](const RoomPolicy& p) { return p.presence; });
  }

 private:
  template <typename F>
  bool any(F&& f) const {
    if (f(defaults)) return true;
    for (const RoomRule& rule : rules) {
      if (f(rule.policy)) return true;
    }
    return false;
  }
};

/// Every typed setting, with its default. Plain data, not thread-safe; load it with loadConfig().
struct Config {
  ServerConfig server;
  LimitsConfig limits;
  AuthConfig auth;
  ApiConfig api;
  BusConfig bus;
  LogConfig log;
  StatsConfig stats;
  MetricsConfig metrics;
  WebConfig web;
  RoomsConfig rooms;
};

}  // namespace heimdallr::config
