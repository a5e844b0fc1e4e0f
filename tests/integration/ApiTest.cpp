// The server API against the real server: publish, broadcast, room counts and disconnect with a
// right and a wrong key, bad bodies (each refusal names the field), request bodies in every shape
// the HTTP layer must handle (Expect: 100-continue, keep-alive, 411, 413), and api.listen on its
// own port. The cross-node halves are in tests/cluster/ApiClusterTest.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "support/HttpTestConnection.h"
#include "support/MetricsScrape.h"
#include "support/ServerProcess.h"
#include "support/TestTokens.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

constexpr const char* kApiKey = "test-api-key-0123456789abcdef";

// The API key file, shared by every test of this file.
std::string keyFile() {
  static const TempFiles files;
  static const std::string path = files.write("api-key", std::string(kApiKey) + "\n");
  return path;
}

std::string post(const std::string& path, const std::string& body, const std::string& key = kApiKey,
                 const std::string& extraHeaders = "") {
  std::string request =
      "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  if (!key.empty()) request += "X-API-Key: " + key + "\r\n";
  request += extraHeaders;
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return request;
}

// One request on a fresh keep-alive connection, its response read by Content-Length.
HttpTestConnection::Response call(uint16_t port, const std::string& request) {
  HttpTestConnection connection(port);
  connection.send(request);
  auto response = connection.readResponse();
  if (!response) {
    ADD_FAILURE() << "no response to:\n" << request;
    return {};
  }
  return *response;
}

std::string get(const std::string& path, const std::string& key = kApiKey) {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key + "\r\n\r\n";
}

// The API port from the log line of api.listen.
uint16_t apiPortOf(ServerProcess& server) {
  static const std::regex kLine("on [^\\s]*:([0-9]+) \\(api\\.listen\\)");
  EXPECT_TRUE(server.waitForLog("(api.listen)", 5s));
  std::smatch match;
  const std::string log = server.log();
  if (!std::regex_search(log, match, kLine)) return 0;
  return static_cast<uint16_t>(std::stoi(match[1]));
}
}  // namespace

TEST(Api, is_off_without_a_key_and_answers_404) {
  ServerProcess server;
  EXPECT_EQ(404, call(server.port(), post("/api/publish", R"({"room":"a","data":"x"})")).status);
}

TEST(Api, publish_reaches_every_member_as_text_or_binary_and_counts_source_api) {
  ServerProcess server({"api.key_file=" + keyFile()});
  WsTestClient a(server.port()), b(server.port()), other(server.port());
  ASSERT_EQ(101, a.handshake("/42"));
  ASSERT_EQ(101, b.handshake("/42"));
  ASSERT_EQ(101, other.handshake("/43"));
  const auto response = call(server.port(), post("/api/publish", R"({"room":"42","data":"hi é"})"));
  EXPECT_EQ(200, response.status) << response.body;
  EXPECT_EQ("{\"ok\":true,\"rooms\":1}\n", response.body);
  for (auto* c : {&a, &b}) {
    auto frame = c->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(ws::Opcode::kText, frame->opcode);
    EXPECT_EQ("hi é", frame->payload);
  }
  EXPECT_FALSE(other.receive(200ms));

  EXPECT_EQ(200, call(server.port(), post("/api/publish", R"({"room":"42","b64":"AP+A"})")).status);
  auto frame = a.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(ws::Opcode::kBinary, frame->opcode);
  EXPECT_EQ(std::string("\x00\xff\x80", 3), frame->payload);
  EXPECT_EQ(
      2, MetricsScrape(server.port()).value("heimdallr_messages_published_total{source=\"api\"}"));
}

TEST(Api, broadcast_reaches_each_named_room_once) {
  ServerProcess server({"api.key_file=" + keyFile()});
  WsTestClient a(server.port()), b(server.port()), c(server.port());
  ASSERT_EQ(101, a.handshake("/a"));
  ASSERT_EQ(101, b.handshake("/b"));
  ASSERT_EQ(101, c.handshake("/c"));
  const auto response =
      call(server.port(), post("/api/broadcast", R"({"rooms":["a","b","a"],"data":"all"})"));
  EXPECT_EQ(200, response.status) << response.body;
  EXPECT_NE(response.body.find("\"rooms\":2"), std::string::npos) << response.body;
  for (auto* client : {&a, &b}) {
    auto frame = client->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ("all", frame->payload);
    EXPECT_FALSE(client->receive(200ms)) << "a room listed twice got the message twice";
  }
  EXPECT_FALSE(c.receive(100ms));
}

TEST(Api, room_counts_members) {
  ServerProcess server({"api.key_file=" + keyFile(), "server.node_id=solo"});
  WsTestClient a(server.port()), b(server.port());
  ASSERT_EQ(101, a.handshake("/42"));
  ASSERT_EQ(101, b.handshake("/42"));
  // Joins reach the directory through the room's home loop: allow it a moment.
  std::string body;
  for (int i = 0; i < 100; ++i) {
    body = call(server.port(), get("/api/rooms/42")).body;
    if (body.find("\"members\":2") != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(body.find("\"members\":2"), std::string::npos) << body;
  EXPECT_NE(body.find("\"solo\":2"), std::string::npos) << body;
  EXPECT_NE(call(server.port(), get("/api/rooms/empty")).body.find("\"members\":0"),
            std::string::npos);
}

TEST(Api, a_wrong_or_missing_key_is_401_and_counted) {
  ServerProcess server({"api.key_file=" + keyFile()});
  WsTestClient member(server.port());
  ASSERT_EQ(101, member.handshake("/42"));
  const std::string body = R"({"room":"42","data":"forged"})";
  EXPECT_EQ(401, call(server.port(), post("/api/publish", body, "wrong-key-0123456789abc")).status);
  EXPECT_EQ(401, call(server.port(), post("/api/publish", body, "")).status);
  std::string almost = kApiKey;
  almost.back() = 'x';
  EXPECT_EQ(401, call(server.port(), post("/api/publish", body, almost)).status);
  EXPECT_EQ(401,
            call(server.port(), post("/api/publish", body, std::string(kApiKey) + "x")).status);
  EXPECT_EQ(401, call(server.port(), get("/api/rooms/42", "nope")).status);
  EXPECT_FALSE(member.receive(200ms)) << "a publish with a wrong key was delivered";
  EXPECT_EQ(
      5,
      MetricsScrape(server.port()).value("heimdallr_requests_refused_total{reason=\"api_key\"}"));
}

TEST(Api, bad_bodies_are_400_naming_the_field_and_nothing_is_published) {
  ServerProcess server({"api.key_file=" + keyFile(), "limits.max_message_bytes=16"});
  WsTestClient member(server.port());
  ASSERT_EQ(101, member.handshake("/42"));
  struct Case {
    std::string path;
    std::string body;
    int status;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"/api/publish", "", 400, "empty body"},
      {"/api/publish", "{", 400, "malformed JSON"},
      {"/api/publish", "[1,2]", 400, "expected a JSON object"},
      {"/api/publish", R"({"data":"x"})", 400, "\\\"room\\\": required"},
      {"/api/publish", R"({"room":"no spaces","data":"x"})", 400, "\\\"room\\\""},
      {"/api/publish", R"({"room":42,"data":"x"})", 400, "\\\"room\\\""},
      {"/api/publish", R"({"room":"42"})", 400, "exactly one of"},
      {"/api/publish", R"({"room":"42","data":"x","b64":"eA=="})", 400, "exactly one of"},
      {"/api/publish", R"({"room":"42","data":7})", 400, "\\\"data\\\""},
      {"/api/publish", R"({"room":"42","b64":"!!"})", 400, "\\\"b64\\\": invalid base64"},
      {"/api/publish", R"({"room":"42","data":"x","rooom":"1"})", 400,
       "\\\"rooom\\\": unknown field"},
      {"/api/publish", R"({"room":"42","data":"this is longer than sixteen"})", 413,
       "limits.max_message_bytes"},
      {"/api/broadcast", R"({"rooms":[],"data":"x"})", 400, "\\\"rooms\\\": must not be empty"},
      {"/api/broadcast", R"({"rooms":["ok","bad room"],"data":"x"})", 400, "\\\"rooms[1]\\\""},
      {"/api/broadcast", R"({"rooms":"42","data":"x"})", 400, "\\\"rooms\\\""},
      {"/api/disconnect", R"({})", 400, "\\\"user\\\": required"},
      {"/api/disconnect", R"({"user":""})", 400, "\\\"user\\\""},
      {"/api/nothing", R"({})", 404, "unknown API endpoint"},
  };
  for (const Case& c : cases) {
    const auto response = call(server.port(), post(c.path, c.body));
    EXPECT_EQ(c.status, response.status) << c.body << " -> " << response.body;
    EXPECT_NE(response.body.find(c.says), std::string::npos) << c.body << " -> " << response.body;
  }
  const auto wrongMethod = call(server.port(), get("/api/publish"));
  EXPECT_EQ(405, wrongMethod.status);
  EXPECT_EQ("POST", wrongMethod.header("Allow").value_or(""));
  EXPECT_EQ(405, call(server.port(), post("/api/rooms/42", "{}")).status);
  EXPECT_FALSE(member.receive(200ms)) << "a refused request published something";
  // The member was not disturbed by any of it.
  ASSERT_EQ(200,
            call(server.port(), post("/api/publish", R"({"room":"42","data":"fine"})")).status);
  auto frame = member.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("fine", frame->payload);
}

TEST(Api, bodies_over_the_limit_are_413_and_chunked_ones_411_before_any_is_read) {
  ServerProcess server({"api.key_file=" + keyFile(), "limits.max_api_body_bytes=1024"});
  HttpTestConnection big(server.port());
  big.send("POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + std::string(kApiKey) +
           "\r\nContent-Length: 1025\r\n\r\n");
  auto response = big.readResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(413, response->status);
  EXPECT_NE(response->body.find("limits.max_api_body_bytes"), std::string::npos);
  EXPECT_TRUE(big.waitForEof());
  EXPECT_EQ(1, MetricsScrape(server.port())
                   .value("heimdallr_requests_refused_total{reason=\"body_too_large\"}"));

  HttpTestConnection chunked(server.port());
  chunked.send("POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + std::string(kApiKey) +
               "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  response = chunked.readResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(411, response->status);
  EXPECT_TRUE(chunked.waitForEof());
}

TEST(Api, a_body_arriving_in_pieces_after_100_continue_and_keep_alive_requests_work) {
  ServerProcess server({"api.key_file=" + keyFile()});
  WsTestClient member(server.port());
  ASSERT_EQ(101, member.handshake("/42"));
  const std::string body = R"({"room":"42","data":")" + std::string(2000, 'x') + "\"}";
  HttpTestConnection connection(server.port());
  const std::string request = post("/api/publish", body, kApiKey, "Expect: 100-continue\r\n");
  const size_t headEnd = request.find("\r\n\r\n") + 4;
  connection.send(request.substr(0, headEnd));
  auto interim = connection.readResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(100, interim->status);
  connection.send(body.substr(0, 700));
  std::this_thread::sleep_for(50ms);
  connection.send(body.substr(700));
  auto response = connection.readResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(200, response->status) << response->body;
  auto frame = member.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(2000u + 0, frame->payload.size());

  // Two more requests pipelined on the same connection: the body boundary is respected.
  connection.send(post("/api/publish", R"({"room":"42","data":"one"})") +
                  post("/api/publish", R"({"room":"42","data":"two"})"));
  for (const char* expected : {"one", "two"}) {
    response = connection.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(200, response->status);
    frame = member.receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(expected, frame->payload);
  }
  // A plain GET with a body is served and the connection stays usable.
  connection.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  response = connection.readResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(200, response->status);
  connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  response = connection.readResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(200, response->status);
}

TEST(Api, disconnect_closes_every_session_of_the_user_with_4010_and_no_other) {
  const std::string secret = "api-test-secret-at-least-32-bytes-long";
  const TempFiles files;
  ServerProcess server({"api.key_file=" + keyFile(), "auth.enabled=true",
                        "auth.hmac_secret_file=" + files.write("jwt", secret),
                        "server.io_threads=2"});
  auto token = [&](const std::string& user) { return mintTestToken(user, {"*"}, secret); };
  WsTestClient alice1(server.port()), alice2(server.port()), bob(server.port());
  ASSERT_EQ(101, alice1.handshake("/a?token=" + token("alice")));
  ASSERT_EQ(101, alice2.handshake("/b?token=" + token("alice")));
  ASSERT_EQ(101, bob.handshake("/a?token=" + token("bob")));
  const auto response = call(server.port(), post("/api/disconnect", R"({"user":"alice"})"));
  EXPECT_EQ(200, response.status) << response.body;
  EXPECT_EQ(4010, alice1.receiveCloseCode());
  EXPECT_EQ(4010, alice2.receiveCloseCode());
  bob.sendText("still here");
  auto frame = bob.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("still here", frame->payload);
  EXPECT_EQ(2, MetricsScrape(server.port())
                   .value("heimdallr_connections_closed_total{reason=\"disconnected\"}"));
}

TEST(Api, api_listen_moves_the_api_metrics_and_stats_off_the_public_port) {
  ServerProcess server({"api.key_file=" + keyFile(), "api.listen=127.0.0.1:0"});
  const uint16_t apiPort = apiPortOf(server);
  ASSERT_NE(0, apiPort);
  ASSERT_NE(server.port(), apiPort);
  WsTestClient member(server.port());
  ASSERT_EQ(101, member.handshake("/42"));

  EXPECT_EQ(404, call(server.port(), post("/api/publish", R"({"room":"42","data":"x"})")).status);
  EXPECT_EQ(404, httpGet(server.port(), "/metrics").status);
  EXPECT_EQ(404, httpGet(server.port(), "/stats").status);
  EXPECT_EQ(200, httpGet(server.port(), "/health").status);

  EXPECT_EQ(200, call(apiPort, post("/api/publish", R"({"room":"42","data":"private"})")).status);
  auto frame = member.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("private", frame->payload);
  EXPECT_EQ(200, httpGet(apiPort, "/metrics").status);
  EXPECT_EQ(200, httpGet(apiPort, "/stats").status);
  EXPECT_EQ(200, httpGet(apiPort, "/health").status);
  // The API port serves no rooms and no demo page.
  WsTestClient wrongPort(apiPort);
  EXPECT_EQ(404, wrongPort.handshake("/42"));
  EXPECT_EQ(404, httpGet(apiPort, "/").status);
}

}  // namespace heimdallr::test
