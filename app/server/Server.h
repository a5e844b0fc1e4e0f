#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cluster/ClusterStats.h"
#include "config/Config.h"
#include "heimdallr/bus/Bus.h"
#include "http/HttpConnection.h"
#include "metrics/NodeMetrics.h"
#include "net/Acceptor.h"
#include "net/IoLoop.h"
#include "room/RoomDirectory.h"
#include "room/RoomHub.h"
#include "server/Credentials.h"
#include "server/ServerContext.h"
#include "server/UserSessions.h"

namespace heimdallr::server {

/// One heimdallr node: the I/O loops, the acceptor feeding them, the room hub on the bus, and the
/// cluster stats it publishes and hears there. start() and stop() are called on the main thread;
/// everything else runs on the loops. The bus must outlive stop().
class Server {
 public:
  /// `credentials` (token verifier, API key) must outlive the server; the app swaps its contents
  /// on SIGHUP.
  Server(const config::Config& config, std::string nodeId, bus::Bus& bus, Credentials& credentials);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Starts the loops, binds the listening socket, then starts publishing and hearing cluster
  /// stats; throws Poco::Exception if it cannot bind.
  void start();
  /// Graceful drain, main thread. From the call on, /health says 503 and upgrades are refused
  /// (HTTP keeps being served, so a load balancer sees the 503). WebSocket sessions are asked to
  /// leave (1001 with a reconnect hint) in batches every kDrainBatchInterval, spread evenly over
  /// `spread`, so their clients do not all reconnect at once. Returns when every session has
  /// gone, or at `deadline` (measured from the call). Sessions leaving their rooms is what
  /// unsubscribes the rooms from the bus. Follow with stop().
  void drain(std::chrono::milliseconds spread, std::chrono::milliseconds deadline);
  static constexpr std::chrono::milliseconds kDrainBatchInterval{100};
  /// The reconnect hint is drawn uniformly from [0, kReconnectJitterMs]: jitter within a batch.
  static constexpr uint64_t kReconnectJitterMs = 1000;

  /// Stops the cluster stats (so nothing of ours touches the bus afterwards), refuses new work,
  /// says goodbye to every client (1001), waits up to `graceMs` for them to go, then stops the
  /// loops. Idempotent.
  void stop(uint64_t graceMs = 2000);

  uint16_t port() const { return acceptor_->port(); }
  std::string host() const { return acceptor_->host(); }
  /// The api.listen socket, when configured (port 0 until start()).
  bool hasApiListener() const { return apiAcceptor_ != nullptr; }
  uint16_t apiPort() const { return apiAcceptor_ ? apiAcceptor_->port() : 0; }
  std::string apiHost() const { return apiAcceptor_ ? apiAcceptor_->host() : std::string(); }
  ServerContext& context() { return *context_; }

 private:
  void adopt(int fd, std::string peer, http::Listener listener);  // acceptor thread
  size_t openConnections() const;
  /// Loop thread: asks about 1/ticksLeft of this loop's sessions to leave.
  static void drainBatch(net::IoLoop& loop, size_t ticksLeft);
  metrics::NodeSnapshot metricsSnapshot(const bus::Bus& bus) const;

  const config::Config& config_;
  std::vector<std::unique_ptr<net::IoLoop>> loops_;
  room::RoomDirectory directory_;
  std::unique_ptr<metrics::NodeMetrics> metrics_;
  std::unique_ptr<room::RoomHub> hub_;
  std::unique_ptr<cluster::ClusterStats> clusterStats_;
  std::unique_ptr<UserSessions> users_;
  std::unique_ptr<ServerContext> context_;
  std::unique_ptr<net::Acceptor> acceptor_;
  std::unique_ptr<net::Acceptor> apiAcceptor_;  // api.listen; null when unset
  std::atomic<size_t> nextLoop_{0};
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace heimdallr::server
