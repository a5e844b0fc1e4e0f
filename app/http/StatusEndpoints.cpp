#include "http/StatusEndpoints.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include "http/HttpResponse.h"

namespace heimdallr::http {

namespace {
// The counts of one node, or the totals: {"node", "connections", "tcp_connections", "room_count",
// "rooms": {room: members}}.
Poco::JSON::Object::Ptr countsObject(const cluster::NodeStats& stats) {
  Poco::JSON::Object::Ptr object = new Poco::JSON::Object;
  object->set("node", stats.node);
  object->set("connections", static_cast<Poco::Int64>(stats.connections));
  object->set("tcp_connections", static_cast<Poco::Int64>(stats.tcpConnections));
  Poco::JSON::Object::Ptr rooms = new Poco::JSON::Object;
  for (const auto& [room, members] : stats.rooms) {
    rooms->set(room, static_cast<Poco::Int64>(members));
  }
  object->set("room_count", static_cast<Poco::UInt64>(stats.rooms.size()));
  object->set("rooms", rooms);
  return object;
}
}  // namespace

StatusReply healthReply(const server::ServerContext& context) {
  Poco::JSON::Object body;
  body.set("node", context.nodeId);
  std::string reason;
  if (!context.ready.load()) {
    reason = "starting";
  } else if (context.draining.load()) {
    reason = "draining";
  } else if (auto bus = context.bus.status(); !bus.up) {
    reason = "bus down: " + bus.reason;
  }
  body.set("status", reason.empty() ? "ok" : "unavailable");
  if (!reason.empty()) body.set("reason", reason);
  return {reason.empty() ? 200 : 503, jsonBody(body)};
}

cluster::NodeStats nodeStats(const server::ServerContext& context) {
  cluster::NodeStats stats;
  stats.node = context.nodeId;
  stats.connections = context.sessions.load();
  for (const auto* loop : context.loops) {
    stats.tcpConnections += static_cast<int64_t>(loop->connectionCount());
  }
  for (const auto& [room, members] : context.directory.snapshot()) {
    if (members > 0) stats.rooms.emplace(room, members);
  }
  return stats;
}

StatusReply statsReply(const server::ServerContext& context) {
  return {200, jsonBody(*countsObject(nodeStats(context)))};
}

StatusReply clusterStatsReply(const server::ServerContext& context) {
  const cluster::ClusterSnapshot snapshot = context.clusterStats.snapshot();
  Poco::JSON::Array::Ptr nodes = new Poco::JSON::Array;
  for (const auto& node : snapshot.nodes) {
    Poco::JSON::Object::Ptr entry = countsObject(node.stats);
    entry->set("age_ms", static_cast<Poco::Int64>(node.ageMs));
    nodes->add(entry);
  }
  Poco::JSON::Object::Ptr totals = countsObject(snapshot.totals);
  totals->remove("node");
  totals->set("nodes", static_cast<Poco::UInt64>(snapshot.nodes.size()));

  Poco::JSON::Object body;
  body.set("scope", "cluster");
  body.set("node", context.nodeId);
  body.set("interval_s", static_cast<Poco::Int64>(context.clusterStats.interval().count() / 1000));
  body.set("nodes", nodes);
  body.set("totals", totals);
  return {200, jsonBody(body)};
}

}  // namespace heimdallr::http
