#include "http/ApiRequest.h"

#include <Poco/Base64Decoder.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/MemoryStream.h>

#include <algorithm>
#include <initializer_list>
#include <set>

#include "room/RoomId.h"
#include "ws/Utf8Validator.h"

namespace heimdallr::http {

namespace {

// Deep enough for any honest body (they are flat), shallow enough that nesting costs nothing.
constexpr size_t kMaxJsonDepth = 16;

// What of the client's own bytes an error message repeats: printable ASCII only, cut short, so
// the JSON error body stays valid UTF-8 whatever was sent (found by tests/fuzz/api_request).
std::string echoed(std::string_view text, size_t limit) {
  std::string out;
  for (char c : text.substr(0, limit)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

ApiError badField(const std::string& field, const std::string& problem) {
  return {400, "\"" + echoed(field, 64) + "\": " + problem};
}

// The body as a JSON object, or why not. Unknown fields are refused so a typo ("rooom") is an
// error instead of a message gone nowhere.
std::variant<Poco::JSON::Object::Ptr, ApiError> parseObject(
    std::string_view body, std::initializer_list<std::string_view> known) {
  if (body.empty()) return ApiError{400, "empty body: expected a JSON object"};
  Poco::Dynamic::Var parsed;
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(kMaxJsonDepth);
    parsed = parser.parse(std::string(body));
  } catch (const Poco::Exception& e) {
    return ApiError{400, "malformed JSON: " + echoed(e.message(), 120)};
  } catch (const std::exception&) {
    return ApiError{400, "malformed JSON"};
  }
  if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) {
    return ApiError{400, "expected a JSON object"};
  }
  auto object = parsed.extract<Poco::JSON::Object::Ptr>();
  for (const auto& [name, value] : *object) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return badField(name, "unknown field");
    }
  }
  return object;
}

bool isString(const Poco::Dynamic::Var& value) { return value.type() == typeid(std::string); }

std::variant<std::string, ApiError> roomField(const Poco::Dynamic::Var& value,
                                              const std::string& field) {
  if (!isString(value)) return badField(field, "expected a room id string");
  const std::string& room = value.extract<std::string>();
  if (!room::isValidRoomId(room))
    return badField(field, "expected a room id ([A-Za-z0-9_-]{1,64})");
  return room;
}

// Standard base64 (RFC 4648 §4), padding optional; anything else in it is an error, not skipped.
std::variant<std::string, ApiError> decodeBase64(const std::string& text) {
  const bool alphabet = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
  });
  const size_t firstPad = text.find('=');
  const bool padding =
      firstPad == std::string::npos ||
      (text.size() - firstPad <= 2 && text.find_first_not_of('=', firstPad) == std::string::npos);
  if (!alphabet || !padding || text.size() % 4 == 1) return badField("b64", "invalid base64");
  std::string padded = text;  // POCO's decoder wants the padding
  padded.append((4 - padded.size() % 4) % 4, '=');
  std::string bytes;
  try {
    Poco::MemoryInputStream in(padded.data(), padded.size());
    Poco::Base64Decoder decoder(in);
    char c;
    while (decoder.get(c)) bytes.push_back(c);
  } catch (const Poco::Exception&) {
    return badField("b64", "invalid base64");
  }
  return bytes;
}

}  // namespace

std::variant<PublishRequest, ApiError> parsePublishRequest(std::string_view body, bool broadcast,
                                                           size_t maxPayloadBytes) {
  auto parsed = broadcast ? parseObject(body, {"rooms", "data", "b64"})
                          : parseObject(body, {"room", "data", "b64"});
  if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
  const auto& object = std::get<Poco::JSON::Object::Ptr>(parsed);

  PublishRequest request;
  if (broadcast) {
    if (!object->has("rooms")) return badField("rooms", "required");
    const Poco::Dynamic::Var rooms = object->get("rooms");
    if (rooms.type() != typeid(Poco::JSON::Array::Ptr)) {
      return badField("rooms", "expected an array of room ids");
    }
    const auto& array = *rooms.extract<Poco::JSON::Array::Ptr>();
    if (array.size() == 0) return badField("rooms", "must not be empty");
    if (array.size() > kMaxBroadcastRooms) {
      return badField("rooms", "at most " + std::to_string(kMaxBroadcastRooms) + " rooms");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < array.size(); ++i) {
      auto room =
          roomField(array.get(static_cast<unsigned>(i)), "rooms[" + std::to_string(i) + "]");
      if (auto* error = std::get_if<ApiError>(&room)) return *error;
      std::string& id = std::get<std::string>(room);
      if (seen.insert(id).second) request.rooms.push_back(std::move(id));
    }
  } else {
    if (!object->has("room")) return badField("room", "required");
    auto room = roomField(object->get("room"), "room");
    if (auto* error = std::get_if<ApiError>(&room)) return *error;
    request.rooms.push_back(std::move(std::get<std::string>(room)));
  }

  const bool hasData = object->has("data");
  const bool hasB64 = object->has("b64");
  if (hasData == hasB64) {
    return ApiError{400, "exactly one of \"data\" (text) or \"b64\" (binary) is required"};
  }
  if (hasData) {
    const Poco::Dynamic::Var data = object->get("data");
    if (!isString(data)) return badField("data", "expected a string (use \"b64\" for binary)");
    request.payload = data.extract<std::string>();
    if (!ws::Utf8Validator::isValid(request.payload)) return badField("data", "invalid UTF-8");
    request.opcode = ws::Opcode::kText;
  } else {
    const Poco::Dynamic::Var b64 = object->get("b64");
    if (!isString(b64)) return badField("b64", "expected a base64 string");
    auto bytes = decodeBase64(b64.extract<std::string>());
    if (auto* error = std::get_if<ApiError>(&bytes)) return *error;
    request.payload = std::move(std::get<std::string>(bytes));
    request.opcode = ws::Opcode::kBinary;
  }
  if (request.payload.size() > maxPayloadBytes) {
    return ApiError{413, std::string("\"") + (hasData ? "data" : "b64") +
                             "\": " + std::to_string(request.payload.size()) +
                             " bytes is larger than limits.max_message_bytes (" +
                             std::to_string(maxPayloadBytes) + ")"};
  }
  return request;
}

std::variant<DisconnectRequest, ApiError> parseDisconnectRequest(std::string_view body) {
  auto parsed = parseObject(body, {"user"});
  if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
  const auto& object = std::get<Poco::JSON::Object::Ptr>(parsed);
  if (!object->has("user")) return badField("user", "required");
  const Poco::Dynamic::Var user = object->get("user");
  if (!isString(user)) return badField("user", "expected a user id string");
  std::string id = user.extract<std::string>();
  if (id.empty() || id.size() > kMaxUserBytes) {
    return badField("user", "expected 1 to " + std::to_string(kMaxUserBytes) + " bytes");
  }
  return DisconnectRequest{std::move(id)};
}

}  // namespace heimdallr::http
