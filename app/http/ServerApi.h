#pragma once

#include <string>
#include <string_view>

#include "http/RequestHead.h"
#include "server/ServerContext.h"

namespace heimdallr::http {

/// The authenticated server API, for the back end's own services:
///   POST /api/publish    {"room", "data" | "b64"}
///   POST /api/broadcast  {"rooms": [...], "data" | "b64"}
///   POST /api/disconnect {"user"}
///   GET  /api/rooms/{room}
/// Every request carries `X-API-Key`. Publishes take the same path as a member's message (encoded
/// once, every node, counted with source="api").
struct ApiReply {
  int status = 200;
  std::string json;
  std::string allow;  // for 405: the methods the endpoint takes
};

/// Loop thread: `loop` is the index of the loop serving the request (publishes start there).
/// `apiKey` is the key in force, never empty (the caller answers 404 while the API is off).
/// Counts a wrong key as a refusal (reason api_key). Never throws.
ApiReply serveApi(server::ServerContext& context, int loop, const std::string& apiKey,
                  const RequestHead& head, std::string_view body);

/// True for "/api" and every path below it.
bool isApiPath(std::string_view path);

}  // namespace heimdallr::http
