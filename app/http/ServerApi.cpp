#include "http/ServerApi.h"

#include <Poco/JSON/Object.h>
#include <Poco/Net/HTTPRequest.h>

#include <variant>

#include "auth/ConstantTime.h"
#include "http/ApiRequest.h"
#include "http/HttpResponse.h"
#include "room/RoomId.h"

namespace heimdallr::http {

namespace {

constexpr std::string_view kApiPrefix = "/api/";
constexpr std::string_view kRoomsPrefix = "/api/rooms/";

ApiReply error(int status, const std::string& message) {
  Poco::JSON::Object body;
  body.set("error", message);
  return {status, jsonBody(body), {}};
}

ApiReply ok(Poco::JSON::Object&& body) {
  body.set("ok", true);
  return {200, jsonBody(body), {}};
}

ApiReply publish(server::ServerContext& context, int loop, std::string_view body, bool broadcast) {
  auto parsed = parsePublishRequest(body, broadcast, context.config.limits.maxMessageBytes);
  if (auto* refused = std::get_if<ApiError>(&parsed)) {
    return error(refused->status, refused->message);
  }
  PublishRequest& request = std::get<PublishRequest>(parsed);
  // Refuse rather than deliver on this node only: the caller can retry a refusal, but cannot
  // retry a half-done publish without sending the message twice to this node's members.
  if (auto bus = context.bus.status(); !bus.up) {
    return error(503, "bus unavailable, nothing was published: " + bus.reason);
  }
  for (size_t i = 0; i < request.rooms.size(); ++i) {
    // The last room takes the payload; the others a copy each (one per room, not per member).
    std::string payload =
        i + 1 == request.rooms.size() ? std::move(request.payload) : request.payload;
    context.hub.publish(request.rooms[i], loop, request.opcode, std::move(payload),
                        metrics::PublishSource::kApi);
  }
  Poco::JSON::Object reply;
  reply.set("rooms", static_cast<Poco::UInt64>(request.rooms.size()));
  return ok(std::move(reply));
}

ApiReply disconnect(server::ServerContext& context, std::string_view body) {
  auto parsed = parseDisconnectRequest(body);
  if (auto* refused = std::get_if<ApiError>(&parsed)) {
    return error(refused->status, refused->message);
  }
  const std::string& user = std::get<DisconnectRequest>(parsed).user;
  context.users.disconnect(user);
  Poco::JSON::Object reply;
  reply.set("user", user);
  return ok(std::move(reply));
}

// Members cluster-wide: this node's count as of now, the others' as of their last stats report
// (at most stats.interval_s old).
ApiReply roomMembers(server::ServerContext& context, const std::string& roomId) {
  Poco::JSON::Object::Ptr nodes = new Poco::JSON::Object;
  int64_t total = context.directory.members(roomId);
  if (total > 0) nodes->set(context.nodeId, total);
  for (const auto& node : context.clusterStats.snapshot().nodes) {
    if (node.stats.node == context.nodeId) continue;
    const auto it = node.stats.rooms.find(roomId);
    if (it == node.stats.rooms.end()) continue;
    nodes->set(node.stats.node, it->second);
    total += it->second;
  }
  Poco::JSON::Object reply;
  reply.set("room", roomId);
  reply.set("members", total);
  reply.set("nodes", nodes);
  return ok(std::move(reply));
}

}  // namespace

bool isApiPath(std::string_view path) { return path == "/api" || path.starts_with(kApiPrefix); }

ApiReply serveApi(server::ServerContext& context, int loop, const std::string& apiKey,
                  const RequestHead& head, std::string_view body) {
  const std::string& path = head.path;
  const std::string& method = head.request.getMethod();
  const bool isPost = method == Poco::Net::HTTPRequest::HTTP_POST;

  // Route first, so a typo in the path is a 404 whatever the key, then the key, then the body.
  enum class Endpoint { kPublish, kBroadcast, kDisconnect, kRoom } endpoint;
  std::string roomId;
  if (path == "/api/publish") {
    endpoint = Endpoint::kPublish;
  } else if (path == "/api/broadcast") {
    endpoint = Endpoint::kBroadcast;
  } else if (path == "/api/disconnect") {
    endpoint = Endpoint::kDisconnect;
  } else if (path.starts_with(kRoomsPrefix) &&
             room::isValidRoomId(std::string_view(path).substr(kRoomsPrefix.size()))) {
    endpoint = Endpoint::kRoom;
    roomId = path.substr(kRoomsPrefix.size());
  } else {
    return error(404, "unknown API endpoint");
  }
  const bool wantsGet = endpoint == Endpoint::kRoom;
  if (wantsGet ? method != Poco::Net::HTTPRequest::HTTP_GET : !isPost) {
    ApiReply reply = error(405, "method not allowed");
    reply.allow = wantsGet ? "GET" : "POST";
    return reply;
  }
  if (!auth::constantTimeEquals(head.request.get("X-API-Key", ""), apiKey)) {
    if (context.config.metrics.enabled) {
      context.metrics.loop(loop).refused(metrics::RefusalReason::kApiKey);
    }
    return error(401, "missing or wrong X-API-Key");
  }
  switch (endpoint) {
    case Endpoint::kPublish:
      return publish(context, loop, body, false);
    case Endpoint::kBroadcast:
      return publish(context, loop, body, true);
    case Endpoint::kDisconnect:
      return disconnect(context, body);
    case Endpoint::kRoom:
      return roomMembers(context, roomId);
  }
  return error(404, "unknown API endpoint");
}

}  // namespace heimdallr::http
