// The bus API shared by the heimdallr host and every bus plugin. Keep it on one screen.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace heimdallr::bus {

/// Bumped whenever Bus, BusMessage or the plugin entry points change incompatibly. The host
/// refuses a plugin built against another version (see Plugin.h).
inline constexpr int kApiVersion = 1;

/// One message on the bus. Immutable once published and shared by reference count, so a plugin
/// may keep it (e.g. in a send queue) without copying.
struct BusMessage {
  static constexpr uint32_t kFlagBinary = 1;  ///< the payload came from a binary WebSocket frame

  std::string subject;       ///< dot-separated tokens without wildcards, e.g. "room.42"
  std::string origin;        ///< node id of the publisher: a node ignores its own messages
  std::string payload;       ///< opaque bytes, relayed as they came
  uint32_t flags = 0;        ///< kFlag* bits
  int64_t originTimeNs = 0;  ///< CLOCK_REALTIME at arrival on the origin node (latency metrics)
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

  /// Stops the plugin's threads; no handler runs after it returns. Idempotent; the host calls it
  /// before deleting the bus.
  virtual void stop() = 0;
};

}  // namespace heimdallr::bus
