#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "heimdallr/bus/Bus.h"
#include "net/IoLoop.h"

namespace heimdallr::net {
class Connection;
}

namespace heimdallr::server {

/// Which authenticated sessions of each user live on each loop, and POST /api/disconnect across
/// the cluster: a disconnect closes the user's sessions here and is published on
/// `ctl.disconnect`, where every other node hears it and closes theirs. Only sessions with a
/// token identity are listed.
///
/// Threads: add, remove and the per-loop lookups run on the loop they name, each loop's map
/// touched by that loop only; disconnect() runs on any thread (it only posts); the bus handler
/// runs on the bus thread and only posts; start() and stop() on the main thread.
class UserSessions {
 public:
  static constexpr std::string_view kSubject = "ctl.disconnect";

  UserSessions(std::vector<net::IoLoop*> loops, bus::Bus& bus, std::string nodeId);
  ~UserSessions();
  UserSessions(const UserSessions&) = delete;
  UserSessions& operator=(const UserSessions&) = delete;

  /// Subscribes to kSubject. The bus must be started and outlive stop().
  void start();
  /// Unsubscribes: no handler runs after it returns. Idempotent.
  void stop();

  void add(int loop, const std::string& user, net::Connection* connection);
  void remove(int loop, const std::string& user, net::Connection* connection);

  /// Closes every session of `user` on this node (Protocol::onEvicted, 4010) and tells the other
  /// nodes to do the same. Any thread.
  void disconnect(const std::string& user);

 private:
  void disconnectHere(const std::string& user);         // any thread: one task per loop
  void evictOnLoop(int loop, const std::string& user);  // loop thread

  std::vector<net::IoLoop*> loops_;
  bus::Bus& bus_;
  const std::string nodeId_;
  // Per loop: user -> that user's sessions there. A set, not a multimap: one user may hold
  // thousands of sessions (a shared token), and a close must not scan them all.
  std::vector<std::unordered_map<std::string, std::unordered_set<net::Connection*>>> perLoop_;
  bus::SubscriptionId subscription_ = 0;
};

}  // namespace heimdallr::server
