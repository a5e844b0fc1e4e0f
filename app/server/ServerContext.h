#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "cluster/ClusterStats.h"
#include "config/Config.h"
#include "heimdallr/bus/Bus.h"
#include "metrics/NodeMetrics.h"
#include "net/IoLoop.h"
#include "room/RoomDirectory.h"
#include "room/RoomHub.h"
#include "server/Credentials.h"
#include "server/SessionsPerIp.h"
#include "server/UserSessions.h"

namespace heimdallr::server {

/// Node-wide state that the HTTP and WebSocket protocols need. Thread-safe: the references are
/// fixed for the server's life and the counters are atomics.
struct ServerContext {
  const config::Config& config;
  const std::string nodeId;
  bus::Bus& bus;
  room::RoomHub& hub;
  room::RoomDirectory& directory;
  const std::vector<net::IoLoop*> loops;
  cluster::ClusterStats& clusterStats;  // what this node hears on stats.*
  metrics::NodeMetrics& metrics;
  Credentials& credentials;  // token verifier and API key in force (swapped on SIGHUP)
  UserSessions& users;       // authenticated sessions by user, per loop; /api/disconnect

  std::atomic<bool> ready{false};     // listening, loops and bus started
  std::atomic<bool> draining{false};  // shutting down: /health says 503, upgrades refused
  std::atomic<int64_t> sessions{0};   // open WebSocket sessions on this node
  SessionsPerIp sessionsPerIp{};      // for limits.max_connections_per_ip
};

}  // namespace heimdallr::server
