#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/RedisServer.h"
#include "support/ServerProcess.h"

namespace heimdallr::test {

/// `count` real nodes, node1..nodeN, on the Redis bus of `redis`, each with `extra` overrides.
inline std::vector<std::unique_ptr<ServerProcess>> startRedisNodes(
    const RedisServer& redis, int count, const std::vector<std::string>& extra = {}) {
  std::vector<std::unique_ptr<ServerProcess>> nodes;
  for (int i = 1; i <= count; ++i) {
    std::vector<std::string> overrides = {"bus.plugin=redis", "bus.redis.host=127.0.0.1",
                                          "bus.redis.port=" + std::to_string(redis.port()),
                                          "server.node_id=node" + std::to_string(i)};
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    nodes.push_back(std::make_unique<ServerProcess>(std::move(overrides)));
  }
  return nodes;
}

}  // namespace heimdallr::test
