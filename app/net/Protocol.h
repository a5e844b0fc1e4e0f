#pragma once

#include <cstddef>
#include <cstdint>

namespace heimdallr::net {

class Connection;

/// What speaks over a Connection: HTTP first, then a WebSocket session after the upgrade.
/// Every call happens on the connection's loop thread.
class Protocol {
 public:
  virtual ~Protocol() = default;
  /// Bytes arrived from the peer. May send, close, or upgrade the connection.
  virtual void onData(Connection& connection, const char* data, size_t size) = 0;
  /// About once a second, with the loop's monotonic clock: timeouts live here.
  virtual void onTick(Connection& connection, uint64_t nowMs) = 0;
  /// The connection started closing (or died). Called exactly once, at the end of a loop
  /// iteration, never from inside another connection's callback: release shared state here.
  virtual void onClosing(Connection& connection) = 0;
  /// The server is shutting down: say goodbye in the protocol's own words and close.
  virtual void onShutdown(Connection& connection) = 0;
  /// The node is draining and asks this connection to leave now, suggesting the client wait
  /// `reconnectHintMs` before it reconnects (elsewhere). Returns true when the protocol is a
  /// long-lived session that took the hint and closed; plain HTTP keeps serving (/health) and
  /// returns false.
  virtual bool onDrain(Connection& /*connection*/, uint64_t /*reconnectHintMs*/) { return false; }
  /// The server API asked for this session to be closed (POST /api/disconnect names its user).
  virtual void onEvicted(Connection& /*connection*/) {}
};

}  // namespace heimdallr::net
