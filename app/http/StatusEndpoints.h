#pragma once

#include <string>

#include "server/ServerContext.h"

namespace heimdallr::http {

struct StatusReply {
  int status;
  std::string json;
};

/// GET /health: 200 when the node is ready to serve, 503 (with the reason) while starting,
/// draining, or while the bus is down. Any thread.
StatusReply healthReply(const server::ServerContext& context);

/// GET /stats: node id, open connections, and this node's rooms with their member counts.
StatusReply statsReply(const server::ServerContext& context);

}  // namespace heimdallr::http
