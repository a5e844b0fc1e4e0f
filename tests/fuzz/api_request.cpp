// libFuzzer target: the server API's request bodies (http/ApiRequest.h) on arbitrary bytes.
//
// The first byte picks the endpoint (publish, broadcast, disconnect) and the payload limit; the
// rest is the body. Invariants:
// 1. The parsers never throw, whatever the bytes.
// 2. A refusal is 400 or 413 with a non-empty UTF-8 message, and the error body the API would
//    send is valid JSON that reads back to the same message (a body with invalid UTF-8 once made
//    the message, and so the body, invalid: regression_invalid_utf8_in_error).
// 3. A publish that parses names 1 (publish) or 1..kMaxBroadcastRooms (broadcast) distinct valid
//    room ids, carries at most the payload limit, and a text payload is valid UTF-8.
// 4. A disconnect that parses names a user of 1..kMaxUserBytes bytes.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "FuzzCheck.h"
#include "http/ApiRequest.h"
#include "http/HttpResponse.h"
#include "room/RoomId.h"
#include "ws/Utf8Validator.h"

namespace {

using namespace heimdallr;

void checkRefusal(const http::ApiError& error) {
  FUZZ_CHECK(error.status == 400 || error.status == 413);
  FUZZ_CHECK(!error.message.empty());
  FUZZ_CHECK(ws::Utf8Validator::isValid(error.message));  // it goes back to the client as JSON
  Poco::JSON::Object body;
  body.set("error", error.message);
  const std::string json = http::jsonBody(body);
  Poco::JSON::Parser parser;
  const auto parsed = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
  FUZZ_CHECK(parsed->getValue<std::string>("error") == error.message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t limit = (selector & 0x04) ? 8 : 65536;

  switch (selector % 3) {
    case 0:
    case 1: {
      const bool broadcast = selector % 3 == 1;
      auto result = http::parsePublishRequest(body, broadcast, limit);
      if (auto* error = std::get_if<http::ApiError>(&result)) {
        checkRefusal(*error);
        break;
      }
      const auto& request = std::get<http::PublishRequest>(result);
      FUZZ_CHECK(!request.rooms.empty());
      FUZZ_CHECK(broadcast ? request.rooms.size() <= http::kMaxBroadcastRooms
                           : request.rooms.size() == 1);
      std::set<std::string> distinct(request.rooms.begin(), request.rooms.end());
      FUZZ_CHECK(distinct.size() == request.rooms.size());
      for (const auto& room : request.rooms) FUZZ_CHECK(room::isValidRoomId(room));
      FUZZ_CHECK(request.payload.size() <= limit);
      if (request.opcode == ws::Opcode::kText) {
        FUZZ_CHECK(ws::Utf8Validator::isValid(request.payload));
      } else {
        FUZZ_CHECK(request.opcode == ws::Opcode::kBinary);
      }
      break;
    }
    default: {
      auto result = http::parseDisconnectRequest(body);
      if (auto* error = std::get_if<http::ApiError>(&result)) {
        checkRefusal(*error);
        break;
      }
      const auto& request = std::get<http::DisconnectRequest>(result);
      FUZZ_CHECK(!request.user.empty() && request.user.size() <= http::kMaxUserBytes);
      break;
    }
  }
  return 0;
}
