#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::cluster {

/// One node's counts: what GET /stats shows and what the node publishes on `stats.<node>`.
/// Plain data.
struct NodeStats {
  std::string node;
  int64_t connections = 0;               ///< open WebSocket sessions
  int64_t tcpConnections = 0;            ///< open TCP connections, HTTP and WebSocket
  std::map<std::string, int64_t> rooms;  ///< room id -> members on this node; no empty rooms

  bool operator==(const NodeStats&) const = default;
};

/// The cluster as one node currently sees it. Plain data.
struct ClusterSnapshot {
  struct Node {
    NodeStats stats;
    int64_t ageMs = 0;  ///< since its last report arrived here
  };
  std::vector<Node> nodes;  ///< every node heard from recently, sorted by node id
  NodeStats totals;         ///< the sums over `nodes` (totals.node is empty)
};

/// GET /stats?scope=cluster. Each node publishes its own NodeStats on subject `stats.<node>` every
/// interval and aggregates what it hears on `stats.*`, its own reports included (they come back
/// through the bus like everyone else's). A node not heard from for kExpiryIntervals of its
/// interval (or of ours, whichever is longer) is forgotten. A newer report from a node replaces
/// its older one; "newer" is arrival order, which the bus keeps per publisher.
///
/// Thread-safe: start() and stop() are called on one thread (the main thread); receive() and
/// snapshot() may be called from any thread, concurrently (the bus thread, the I/O loops).
class ClusterStats {
 public:
  using Clock = std::chrono::steady_clock;
  /// Builds this node's current counts. Called on the publisher thread; must not block.
  using LocalStats = std::function<NodeStats()>;

  static constexpr int kExpiryIntervals = 3;
  static constexpr std::string_view kSubjectPrefix = "stats.";
  static constexpr std::string_view kPattern = "stats.*";

  /// `nodeId` must be a single subject token (no dots); throws std::invalid_argument otherwise.
  /// Nothing touches the bus before start().
  ClusterStats(bus::Bus& bus, std::string nodeId, std::chrono::milliseconds interval,
               LocalStats localStats);
  /// Calls stop().
  ~ClusterStats();
  ClusterStats(const ClusterStats&) = delete;
  ClusterStats& operator=(const ClusterStats&) = delete;

  /// Subscribes to `stats.*`, then publishes this node's stats at once and every interval on a
  /// thread of its own. The bus must be started and outlive stop().
  void start();
  /// Joins the publisher thread (it wakes at once) and unsubscribes: after it returns nothing is
  /// published and no handler runs. Idempotent; a no-op when never started.
  void stop();

  /// Takes one bus message on `stats.<origin>` into the view, as heard at `now`. A message that
  /// is not a well-formed stats report is ignored (logged at debug) and false is returned. Never
  /// throws.
  bool receive(const bus::BusMessage& msg, Clock::time_point now);
  /// The nodes heard from within their expiry as of `now`, and their totals.
  ClusterSnapshot snapshot(Clock::time_point now) const;
  ClusterSnapshot snapshot() const { return snapshot(Clock::now()); }

  const std::string& nodeId() const { return nodeId_; }
  std::chrono::milliseconds interval() const { return interval_; }

  /// The bus message this node publishes for `stats` (subject, origin and payload).
  bus::BusMessagePtr makeReport(const NodeStats& stats) const;

 private:
  struct Heard {
    NodeStats stats;
    Clock::time_point at;
    std::chrono::milliseconds ttl;  // forgotten once `at + ttl` has passed
  };

  void publishLoop();
  void publishOnce();
  static bool expired(const Heard& heard, Clock::time_point now) {
    return now - heard.at > heard.ttl;
  }

  bus::Bus& bus_;
  const std::string nodeId_;
  const std::chrono::milliseconds interval_;
  const LocalStats localStats_;

  mutable std::mutex viewMutex_;  // guards heard_ only; never held while calling out
  std::map<std::string, Heard> heard_;

  std::mutex timerMutex_;  // guards stopping_
  std::condition_variable timerWake_;
  bool stopping_ = false;
  std::thread publisher_;
  std::optional<bus::SubscriptionId> subscription_;
};

}  // namespace heimdallr::cluster
