#include <gtest/gtest.h>

#include <string>

#include "http/ApiRequest.h"
#include "ws/Utf8Validator.h"

namespace heimdallr::http {
namespace {

PublishRequest publishOk(const std::string& body, bool broadcast = false, size_t limit = 1024) {
  auto result = parsePublishRequest(body, broadcast, limit);
  if (auto* error = std::get_if<ApiError>(&result)) {
    ADD_FAILURE() << body << " -> " << error->message;
    return {};
  }
  return std::get<PublishRequest>(result);
}

ApiError publishError(const std::string& body, bool broadcast = false, size_t limit = 1024) {
  auto result = parsePublishRequest(body, broadcast, limit);
  if (auto* error = std::get_if<ApiError>(&result)) return *error;
  ADD_FAILURE() << body << " was accepted";
  return {};
}

TEST(ApiRequest, publish_takes_a_room_and_text_or_base64) {
  PublishRequest text = publishOk(R"({"room":"42","data":"h\u00e9"})");
  EXPECT_EQ(text.rooms, std::vector<std::string>{"42"});
  EXPECT_EQ(text.opcode, ws::Opcode::kText);
  EXPECT_EQ(text.payload, "h\xc3\xa9");
  PublishRequest binary = publishOk(R"({"room":"42","b64":"AP+A"})");
  EXPECT_EQ(binary.opcode, ws::Opcode::kBinary);
  EXPECT_EQ(binary.payload, std::string("\x00\xff\x80", 3));
  EXPECT_EQ(publishOk(R"({"room":"r","b64":""})").payload, "");
  EXPECT_EQ(publishOk(R"({"room":"r","b64":"eA"})").payload, "x");  // padding optional
}

TEST(ApiRequest, broadcast_keeps_each_room_once_in_order) {
  PublishRequest request = publishOk(R"({"rooms":["b","a","b"],"data":"x"})", true);
  EXPECT_EQ(request.rooms, (std::vector<std::string>{"b", "a"}));
}

TEST(ApiRequest, refusals_name_the_field) {
  EXPECT_EQ(publishError(R"({"data":"x"})").message, "\"room\": required");
  EXPECT_NE(publishError(R"({"room":"a b","data":"x"})").message.find("\"room\""),
            std::string::npos);
  EXPECT_NE(publishError(R"({"room":"42","data":null})").message.find("\"data\""),
            std::string::npos);
  EXPECT_NE(publishError(R"({"room":"42","b64":"a=b="})").message.find("\"b64\""),
            std::string::npos);
  EXPECT_NE(publishError(R"({"room":"42","b64":"abcde"})").message.find("\"b64\""),
            std::string::npos);
  EXPECT_EQ(publishError(R"({"room":"42","data":"x","extra":1})").message,
            "\"extra\": unknown field");
  EXPECT_NE(publishError(R"({"rooms":["a"],"data":"x"})").message.find("unknown field"),
            std::string::npos);
  EXPECT_NE(publishError(R"({"rooms":[1],"data":"x"})", true).message.find("\"rooms[0]\""),
            std::string::npos);
  EXPECT_NE(publishError("[]").message.find("JSON object"), std::string::npos);
  EXPECT_NE(publishError("{\"room\":").message.find("malformed JSON"), std::string::npos);
}

TEST(ApiRequest, refuses_too_large_payloads_with_413) {
  EXPECT_EQ(publishError(R"({"room":"42","data":"12345"})", false, 4).status, 413);
  EXPECT_EQ(publishError(R"({"room":"42","b64":"MTIzNDU="})", false, 4).status, 413);
  EXPECT_EQ(publishOk(R"({"room":"42","data":"1234"})", false, 4).payload, "1234");
}

TEST(ApiRequest, refuses_invalid_utf8_in_data_and_deep_nesting) {
  // A lone surrogate escape decodes to bytes that are not UTF-8.
  auto lone = parsePublishRequest(R"({"room":"42","data":"\ud800"})", false, 1024);
  if (auto* error = std::get_if<ApiError>(&lone)) {
    EXPECT_EQ(error->status, 400);
  } else {
    EXPECT_TRUE(ws::Utf8Validator::isValid(std::get<PublishRequest>(lone).payload));
  }
  std::string deep = R"({"room":"42","data":"x","n":)";
  for (int i = 0; i < 10000; ++i) deep += "[";
  EXPECT_EQ(publishError(deep).status, 400);
}

// Found by tests/fuzz/api_request: POCO's parse error repeated the body's bytes, so the JSON error
// body carried invalid UTF-8.
TEST(ApiRequest, error_messages_repeat_only_printable_ascii_of_the_body) {
  for (const std::string& body :
       {std::string("{\xfd\"room\":\"42\"}"), std::string("{\"\xc3\xa9\xc3\xa9\":1}"),
        "{\"" + std::string(63, 'k') + "\xc3\xa9\":1}"}) {
    const ApiError error = publishError(body);
    EXPECT_EQ(error.status, 400);
    EXPECT_TRUE(ws::Utf8Validator::isValid(error.message)) << error.message;
    for (char c : error.message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << error.message;
  }
}

TEST(ApiRequest, too_many_broadcast_rooms_are_refused) {
  std::string body = R"({"data":"x","rooms":[)";
  for (size_t i = 0; i <= kMaxBroadcastRooms; ++i)
    body += (i ? ",\"r" : "\"r") + std::to_string(i) + "\"";
  body += "]}";
  EXPECT_NE(publishError(body, true).message.find("at most"), std::string::npos);
}

TEST(ApiRequest, disconnect_takes_a_user) {
  auto ok = parseDisconnectRequest(R"({"user":"alice"})");
  ASSERT_TRUE(std::holds_alternative<DisconnectRequest>(ok));
  EXPECT_EQ(std::get<DisconnectRequest>(ok).user, "alice");
  for (const char* bad :
       {R"({})", R"({"user":""})", R"({"user":7})", R"({"user":"a","x":1})", R"("alice")"}) {
    EXPECT_TRUE(std::holds_alternative<ApiError>(parseDisconnectRequest(bad))) << bad;
  }
  EXPECT_TRUE(std::holds_alternative<ApiError>(
      parseDisconnectRequest("{\"user\":\"" + std::string(kMaxUserBytes + 1, 'u') + "\"}")));
}

}  // namespace
}  // namespace heimdallr::http
