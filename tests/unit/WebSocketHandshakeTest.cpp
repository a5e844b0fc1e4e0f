#include <gtest/gtest.h>

#include "http/WebSocketHandshake.h"

namespace heimdallr::http {

namespace {
Poco::Net::HTTPRequest upgradeRequest() {
  Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, "/42",
                                 Poco::Net::HTTPMessage::HTTP_1_1);
  request.set("Upgrade", "websocket");
  request.set("Connection", "keep-alive, Upgrade");
  request.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  request.set("Sec-WebSocket-Version", "13");
  return request;
}
}  // namespace

TEST(WebSocketHandshake, computes_the_rfc6455_example_accept_key) {
  EXPECT_EQ("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", webSocketAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="));
}

TEST(WebSocketHandshake, accepts_a_well_formed_upgrade_with_token_lists) {
  auto request = upgradeRequest();
  EXPECT_TRUE(wantsWebSocketUpgrade(request));
  EXPECT_TRUE(checkWebSocketHandshake(request).ok());
}

TEST(WebSocketHandshake, upgrade_header_is_case_insensitive) {
  auto request = upgradeRequest();
  request.set("Upgrade", "WebSocket");
  EXPECT_TRUE(wantsWebSocketUpgrade(request));
}

TEST(WebSocketHandshake, wrong_version_is_426) {
  auto request = upgradeRequest();
  request.set("Sec-WebSocket-Version", "8");
  EXPECT_EQ(426, checkWebSocketHandshake(request).status);
}

TEST(WebSocketHandshake, missing_or_short_key_is_400) {
  auto request = upgradeRequest();
  request.erase("Sec-WebSocket-Key");
  EXPECT_EQ(400, checkWebSocketHandshake(request).status);
  request.set("Sec-WebSocket-Key", "c2hvcnQ=");  // "short"
  EXPECT_EQ(400, checkWebSocketHandshake(request).status);
  request.set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!!!");
  EXPECT_EQ(400, checkWebSocketHandshake(request).status);
}

TEST(WebSocketHandshake, missing_connection_upgrade_is_400) {
  auto request = upgradeRequest();
  request.set("Connection", "keep-alive");
  EXPECT_EQ(400, checkWebSocketHandshake(request).status);
}

TEST(WebSocketHandshake, non_get_is_405) {
  auto request = upgradeRequest();
  request.setMethod(Poco::Net::HTTPRequest::HTTP_POST);
  EXPECT_EQ(405, checkWebSocketHandshake(request).status);
}

TEST(WebSocketHandshake, switching_protocols_response_carries_the_accept_key) {
  const std::string response = switchingProtocolsResponse("dGhlIHNhbXBsZSBub25jZQ==");
  EXPECT_EQ(0u, response.find("HTTP/1.1 101"));
  EXPECT_NE(std::string::npos, response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  EXPECT_NE(std::string::npos, response.find("Upgrade: websocket"));
}

TEST(WebSocketHandshake, any_origin_is_allowed_when_the_list_is_empty) {
  auto request = upgradeRequest();
  request.set("Origin", "https://evil.example");
  EXPECT_TRUE(originAllowed(request, {}));
}

TEST(WebSocketHandshake, origin_must_match_an_entry_ignoring_case_and_a_trailing_slash) {
  const std::vector<std::string> allowed{"https://chat.example.com", "http://localhost:8000"};
  auto request = upgradeRequest();
  request.set("Origin", "https://chat.example.com");
  EXPECT_TRUE(originAllowed(request, allowed));
  request.set("Origin", "HTTPS://Chat.Example.com/");
  EXPECT_TRUE(originAllowed(request, allowed));
  request.set("Origin", "http://localhost:8000");
  EXPECT_TRUE(originAllowed(request, allowed));
  request.set("Origin", "http://localhost:8001");
  EXPECT_FALSE(originAllowed(request, allowed));
  request.set("Origin", "https://chat.example.com.evil.example");
  EXPECT_FALSE(originAllowed(request, allowed));
  request.set("Origin", "null");  // sandboxed iframes and file:// pages
  EXPECT_FALSE(originAllowed(request, allowed));
}

TEST(WebSocketHandshake, an_upgrade_without_origin_is_not_a_browser_and_is_allowed) {
  EXPECT_TRUE(originAllowed(upgradeRequest(), {"https://chat.example.com"}));
}

}  // namespace heimdallr::http
