#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ws/Opcode.h"

namespace heimdallr::http {

/// The bodies of the server API's POST requests, parsed with Poco::JSON and checked field by
/// field. Pure functions of their input: thread-safe, and fuzzed as they are
/// (tests/fuzz/api_request).

/// A refusal: the HTTP status (400 for a bad body, 413 for data that is too large) and a message
/// that names the field at fault.
struct ApiError {
  int status = 400;
  std::string message;
};

/// POST /api/publish {"room": id, "data": text} or {"room": id, "b64": base64}, and
/// POST /api/broadcast {"rooms": [id, ...], "data" | "b64"}. `data` becomes a text frame (it must
/// be valid UTF-8, which JSON strings are meant to be), `b64` a binary one.
struct PublishRequest {
  std::vector<std::string> rooms;  // valid room ids, each once, in the order given
  ws::Opcode opcode = ws::Opcode::kText;
  std::string payload;
};

/// POST /api/disconnect {"user": id}: every session of that user, on every node.
struct DisconnectRequest {
  std::string user;
};

/// The most rooms one broadcast may name.
inline constexpr size_t kMaxBroadcastRooms = 1000;
/// The longest user id (the token's `sub`) a disconnect may name.
inline constexpr size_t kMaxUserBytes = 256;

/// `broadcast` selects the "rooms" form; `maxPayloadBytes` is limits.max_message_bytes (413
/// beyond, as for a client's message).
std::variant<PublishRequest, ApiError> parsePublishRequest(std::string_view body, bool broadcast,
                                                           size_t maxPayloadBytes);
std::variant<DisconnectRequest, ApiError> parseDisconnectRequest(std::string_view body);

}  // namespace heimdallr::http
