#pragma once

#include <string>

#include "cluster/ClusterStats.h"
#include "server/ServerContext.h"

namespace heimdallr::http {

struct StatusReply {
  int status;
  std::string json;
};

/// GET /health: 200 when the node is ready to serve, 503 (with the reason) while starting,
/// draining, or while the bus is down. Any thread.
StatusReply healthReply(const server::ServerContext& context);

/// This node's counts as GET /stats shows them, and as the node publishes them for
/// scope=cluster. Any thread.
cluster::NodeStats nodeStats(const server::ServerContext& context);

/// GET /stats (or ?scope=node): node id, open connections, and this node's rooms with their
/// member counts. Any thread.
StatusReply statsReply(const server::ServerContext& context);

/// GET /stats?scope=cluster: every node this one has heard on the bus recently, with its counts
/// and the age of its report, and the totals over those nodes. Any thread.
StatusReply clusterStatsReply(const server::ServerContext& context);

}  // namespace heimdallr::http
