#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace heimdallr::test {

/// What GET /stats reported at one moment.
struct StatsSnapshot {
  std::string node;
  int64_t connections = -1;
  int64_t tcpConnections = -1;
  std::map<std::string, int64_t> rooms;  // room id -> members; absent rooms have none

  int64_t membersOf(const std::string& room) const {
    auto it = rooms.find(room);
    return it == rooms.end() ? 0 : it->second;
  }
};

/// One GET /stats over a fresh connection, parsed. Throws when the answer is not 200 JSON.
StatsSnapshot fetchStats(uint16_t port);

/// Polls /stats until `room` has exactly `members` (joins and leaves are asynchronous), or
/// `timeout` passes. Returns the last count seen.
int64_t waitForRoomMembers(uint16_t port, const std::string& room, int64_t members,
                           std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace heimdallr::test
