// The bus API shared by the heimdallr host and every bus plugin. Keep it on one screen.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace heimdallr::bus {

/// Bumped whenever Bus, BusMessage or the plugin entry points change incompatibly. The host
/// refuses a plugin built against another version (see Plugin.h).
inline constexpr int kApiVersion = 3;

class Storage;  // the optional history and presence capability (Storage.h)

/// What a room message is. Plugins carry it without looking inside.
enum class MessageKind : uint8_t {
  kMessage = 0,  ///< a member's (or the server API's) message
  kJoin = 1,     ///< presence: `payload` is the member who joined, as JSON
  kLeave = 2,    ///< presence: `payload` is the member who left, as JSON
  /// Never on the wire: a plugin hands it to a subscription when that subscription took effect,
  /// or took effect again after a loss (Redis: each SUBSCRIBE confirmed, reconnects included).
  /// What was published on the subject before may not have reached the subscriber; the host then
  /// reads the subject's stream to fill the hole. Plugins that never lose messages need not send
  /// it.
  kResync = 3,
};

/// One message on the bus. Immutable once published and shared by reference count, so a plugin
/// may keep it (e.g. in a send queue) without copying.
struct BusMessage {
  static constexpr uint32_t kFlagBinary = 1;  ///< the payload came from a binary WebSocket frame
  static constexpr uint32_t kFlagJson = 2;    ///< the payload is one JSON value (protocol v2)

  std::string subject;       ///< dot-separated tokens without wildcards, e.g. "room.42"
  std::string origin;        ///< node id of the publisher: a node ignores its own messages
  std::string payload;       ///< opaque bytes, relayed as they came
  uint32_t flags = 0;        ///< kFlag* bits
  int64_t originTimeNs = 0;  ///< CLOCK_REALTIME at arrival on the origin node (latency metrics)
  MessageKind kind = MessageKind::kMessage;
  /// Set by Storage::append: the message's place in its subject's stream (0 = not stored). A
  /// stored message is delivered through the bus to its origin node too.
  uint64_t offset = 0;
  std::string epoch;         ///< the stream's epoch, with offset
  std::string senderClient;  ///< the publishing connection's client id ("" for the server API)
  std::string senderUser;    ///< its user ("" when anonymous)
};
using BusMessagePtr = std::shared_ptr<const BusMessage>;

using SubscriptionId = uint64_t;

/// Called on a thread the plugin owns (never inside publish/subscribe). Must not block: hand the
/// message to another thread's queue and return. `msg` may be kept (shared ownership). Must not
/// call back into the bus. After unsubscribe() returns, no further calls arrive for that id.
using MessageHandler = std::function<void(const BusMessagePtr& msg)>;

/// Plugin options: the keys under `bus.<plugin>` in the config, relative ("host", "port", ...).
using Options = std::map<std::string, std::string>;

struct BusStatus {
  bool up = false;
  std::string reason;  ///< why it is down; empty when up
};

/// Upper bounds (seconds) of the publish-latency buckets every plugin reports; +Inf is implicit.
inline constexpr std::array<double, 12> kPublishLatencyBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0};

/// Monotonic counters a plugin keeps for the host's metrics. A snapshot: plain data.
struct BusCounters {
  uint64_t published = 0;     ///< accepted by publish()
  uint64_t dropped = 0;       ///< refused by the pending limit (or while stopped)
  uint64_t reconnects = 0;    ///< successful reconnections after a loss
  uint64_t pendingBytes = 0;  ///< queued or sent but not yet acknowledged by the backend
  /// Enqueue to acknowledged by the backend: per-bucket (not cumulative) counts, the last one
  /// for +Inf, with the count and sum of all observations.
  std::array<uint64_t, kPublishLatencyBounds.size() + 1> publishLatencyBuckets{};
  uint64_t publishLatencyCount = 0;
  double publishLatencySumSeconds = 0;
};

/// A NATS-style message bus. Thread-safe: after start(), every method may be called from any
/// thread, and none blocks on the network.
class Bus {
 public:
  virtual ~Bus() = default;

  /// Called once on the main thread before any other method. Throws std::invalid_argument whose
  /// message starts with the offending option key ("port: expected ..."). An unreachable backend
  /// is not an error: the bus starts down, reports it in status(), and keeps trying.
  virtual void start(const std::string& nodeId, const Options& options) = 0;

  /// Delivers `msg` to every subscription whose pattern matches msg->subject, on this node and
  /// others. Never blocks; a plugin past its pending limit drops the message and counts it.
  virtual void publish(BusMessagePtr msg) = 0;

  /// `pattern` is a subject where a `*` token matches one token and a final `>` the rest.
  /// Throws std::invalid_argument for an invalid pattern.
  virtual SubscriptionId subscribe(const std::string& pattern, MessageHandler handler) = 0;
  virtual void unsubscribe(SubscriptionId id) = 0;

  virtual BusStatus status() const = 0;
  virtual BusCounters counters() const = 0;

  /// History and presence (Storage.h), or null when the plugin has none: the host then refuses a
  /// config that asks for history or presence, naming the key.
  virtual Storage* storage() { return nullptr; }

  /// Stops the plugin's threads; no handler runs after it returns. Idempotent; the host calls it
  /// before deleting the bus.
  virtual void stop() = 0;
};

}  // namespace heimdallr::bus
