#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace heimdallr::server {

/// Open WebSocket sessions per client IP address, for limits.max_connections_per_ip.
/// Thread-safe: one mutex, taken once per upgrade and once per session end, never per message.
class SessionsPerIp {
 public:
  /// Counts one more session for `ip` unless it already has `limit`; 0 means no limit (and then
  /// nothing is tracked, so release() with the same limit is free too).
  bool tryAcquire(const std::string& ip, size_t limit);
  /// Gives back a session taken with tryAcquire() under the same limit.
  void release(const std::string& ip, size_t limit);
  /// Sessions counted for `ip` now (tests and /stats).
  size_t count(const std::string& ip) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, size_t> counts_;  // only addresses with at least one session
};

/// The address part of a peer name as POCO prints it: "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1".
std::string_view ipOfPeer(std::string_view peer);

}  // namespace heimdallr::server
