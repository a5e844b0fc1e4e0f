#include "http/StatusEndpoints.h"

#include <Poco/JSON/Object.h>

#include <sstream>

namespace heimdallr::http {

namespace {
std::string toJson(const Poco::JSON::Object& object) {
  std::ostringstream out;
  object.stringify(out);
  out << '\n';
  return out.str();
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
  return {reason.empty() ? 200 : 503, toJson(body)};
}

StatusReply statsReply(const server::ServerContext& context) {
  Poco::JSON::Object body;
  body.set("node", context.nodeId);
  body.set("connections", static_cast<Poco::Int64>(context.sessions.load()));
  Poco::Int64 tcp = 0;
  for (const auto* loop : context.loops) tcp += static_cast<Poco::Int64>(loop->connectionCount());
  body.set("tcp_connections", tcp);
  Poco::JSON::Object::Ptr rooms = new Poco::JSON::Object;
  const auto snapshot = context.directory.snapshot();
  for (const auto& [room, members] : snapshot) rooms->set(room, static_cast<Poco::UInt32>(members));
  body.set("room_count", static_cast<Poco::UInt64>(snapshot.size()));
  body.set("rooms", rooms);
  return {200, toJson(body)};
}

}  // namespace heimdallr::http
