#include "support/StatsProbe.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <stdexcept>
#include <thread>

#include "support/WsTestClient.h"

namespace heimdallr::test {

StatsSnapshot fetchStats(uint16_t port) {
  const HttpResult result = httpGet(port, "/stats");
  if (result.status != 200) {
    throw std::runtime_error("GET /stats answered " + std::to_string(result.status));
  }
  Poco::JSON::Parser parser;
  const auto object = parser.parse(result.body).extract<Poco::JSON::Object::Ptr>();
  StatsSnapshot stats;
  stats.node = object->getValue<std::string>("node");
  stats.connections = object->getValue<Poco::Int64>("connections");
  stats.tcpConnections = object->getValue<Poco::Int64>("tcp_connections");
  const auto rooms = object->getObject("rooms");
  if (!rooms) throw std::runtime_error("GET /stats has no rooms object: " + result.body);
  for (const auto& [room, members] : *rooms) stats.rooms[room] = members.convert<Poco::Int64>();
  return stats;
}

int64_t waitForRoomMembers(uint16_t port, const std::string& room, int64_t members,
                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const int64_t seen = fetchStats(port).membersOf(room);
    if (seen == members || std::chrono::steady_clock::now() >= deadline) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace heimdallr::test
