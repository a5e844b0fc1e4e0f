// The plain HTTP side of the real server: /health, /stats, HEAD, keep-alive, pipelining, and a
// wrk run with a thousand connections.
#include <Poco/Environment.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Path.h>
#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/HttpTestConnection.h"
#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Poco::JSON::Object::Ptr parseObject(const std::string& json) {
  Poco::JSON::Parser parser;
  return parser.parse(json).extract<Poco::JSON::Object::Ptr>();
}

std::string get(const std::string& path, bool close = false) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n";
}
}  // namespace

TEST(Http, health_answers_200_with_json_status_ok) {
  ServerProcess server;
  const HttpResult result = httpGet(server.port(), "/health");
  EXPECT_EQ(200, result.status);
  EXPECT_NE(std::string::npos, result.head.find("application/json")) << result.head;
  auto body = parseObject(result.body);
  EXPECT_EQ("ok", body->optValue<std::string>("status", "(absent)")) << result.body;
  EXPECT_FALSE(body->optValue<std::string>("node", "").empty()) << result.body;
}

TEST(Http, stats_reports_node_connections_and_members_per_room) {
  ServerProcess server;
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (const char* path : {"/a", "/a", "/a", "/b"}) {
    clients.push_back(std::make_unique<WsTestClient>(server.port()));
    ASSERT_EQ(101, clients.back()->handshake(path));
  }
  // Joins reach the room actors asynchronously: poll until both rooms are counted.
  const auto deadline = Clock::now() + 5s;
  StatsSnapshot stats = fetchStats(server.port());
  while (Clock::now() < deadline && (stats.membersOf("a") != 3 || stats.membersOf("b") != 1)) {
    std::this_thread::sleep_for(20ms);
    stats = fetchStats(server.port());
  }
  EXPECT_EQ(3, stats.membersOf("a"));
  EXPECT_EQ(1, stats.membersOf("b"));
  EXPECT_EQ(2u, stats.rooms.size());
  EXPECT_EQ(4, stats.connections);
  EXPECT_FALSE(stats.node.empty());
  EXPECT_EQ(stats.node,
            parseObject(httpGet(server.port(), "/health").body)->getValue<std::string>("node"));

  // And back down when they leave.
  clients.pop_back();
  clients.pop_back();
  EXPECT_EQ(0, waitForRoomMembers(server.port(), "b", 0));
  EXPECT_EQ(2, waitForRoomMembers(server.port(), "a", 2));
  stats = fetchStats(server.port());
  EXPECT_EQ(1u, stats.rooms.size());
  EXPECT_EQ(2, stats.connections);
}

TEST(Http, head_health_has_the_headers_but_no_body) {
  ServerProcess server;
  HttpTestConnection http(server.port());
  // HEAD then GET on one connection: if HEAD leaked a body, the GET's answer would not start
  // where the HEAD's head ends.
  http.send("HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get("/health"));
  auto head = http.readResponse(/*headRequest=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(200, head->status) << head->head;
  EXPECT_TRUE(head->body.empty());
  auto full = http.readResponse();
  ASSERT_TRUE(full) << "nothing parsable after the HEAD answer; unread: " << http.unread();
  EXPECT_EQ(200, full->status) << full->head;
  EXPECT_EQ("ok", parseObject(full->body)->getValue<std::string>("status"));
  EXPECT_EQ(full->header("Content-Type"), head->header("Content-Type"));
  EXPECT_EQ(full->header("Content-Length"), head->header("Content-Length"));
}

TEST(Http, head_of_an_error_response_has_no_body_either) {
  ServerProcess server;
  HttpTestConnection http(server.port());
  // 404 and 426 answers keep the connection: a body after HEAD would corrupt the next answer.
  http.send(
      "HEAD /not/a/room HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
      "HEAD /42 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" +
      get("/health"));
  auto notFound = http.readResponse(/*headRequest=*/true);
  ASSERT_TRUE(notFound);
  EXPECT_EQ(404, notFound->status);
  auto upgradeRequired = http.readResponse(/*headRequest=*/true);
  ASSERT_TRUE(upgradeRequired);
  EXPECT_EQ(426, upgradeRequired->status);
  auto health = http.readResponse();
  ASSERT_TRUE(health) << "unread: " << http.unread();
  EXPECT_EQ(200, health->status) << health->head;
}

TEST(Http, keep_alive_serves_several_requests_on_one_connection) {
  ServerProcess server;
  HttpTestConnection http(server.port());
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    http.send(get(i % 2 == 0 ? "/health" : "/stats"));
    auto response = http.readResponse();
    ASSERT_TRUE(response) << "no answer on the kept-alive connection";
    EXPECT_EQ(200, response->status);
    EXPECT_NE("close", response->header("Connection").value_or(""));
  }
  http.send(get("/health", /*close=*/true));
  auto last = http.readResponse();
  ASSERT_TRUE(last);
  EXPECT_EQ(200, last->status);
  EXPECT_TRUE(http.waitForEof()) << "Connection: close was not honoured";
}

TEST(Http, pipelined_requests_in_one_write_are_answered_in_order) {
  ServerProcess server;
  HttpTestConnection http(server.port());
  http.send(get("/health") + get("/stats") + get("/no/such/room") + get("/42") +
            "HEAD /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get("/health", /*close=*/true));

  auto health = http.readResponse();
  ASSERT_TRUE(health);
  EXPECT_EQ(200, health->status);
  EXPECT_TRUE(parseObject(health->body)->has("status")) << health->body;

  auto stats = http.readResponse();
  ASSERT_TRUE(stats);
  EXPECT_EQ(200, stats->status);
  EXPECT_TRUE(parseObject(stats->body)->has("rooms")) << stats->body;

  auto notFound = http.readResponse();
  ASSERT_TRUE(notFound);
  EXPECT_EQ(404, notFound->status);

  auto notUpgraded = http.readResponse();
  ASSERT_TRUE(notUpgraded);
  EXPECT_EQ(426, notUpgraded->status);

  auto head = http.readResponse(/*headRequest=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(200, head->status);

  auto last = http.readResponse();
  ASSERT_TRUE(last);
  EXPECT_EQ(200, last->status);
  EXPECT_TRUE(parseObject(last->body)->has("status")) << last->body;
  EXPECT_TRUE(http.waitForEof());
  EXPECT_EQ("", http.unread());
}

TEST(Http, wrk_with_1000_connections_gets_answers_without_socket_errors) {
  Poco::Path wrk;
  if (!Poco::Path::find(Poco::Environment::get("PATH", ""), "wrk", wrk)) {
    GTEST_SKIP() << "wrk is not on PATH";
  }
  ServerProcess server;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/health";
  Poco::Pipe output;
  Poco::ProcessHandle process = Poco::Process::launch(
      wrk.toString(), {"-t2", "-c1000", "-d5s", "--latency", url}, nullptr, &output, &output);
  std::string text;
  std::thread reader([&] {
    char buffer[4096];
    int n;
    while ((n = output.readBytes(buffer, sizeof buffer)) > 0) {
      text.append(buffer, static_cast<size_t>(n));
    }
  });
  // wrk runs 5 s; give it generous room to connect and report, then kill it so a hang cannot
  // outlive the test.
  const auto deadline = Clock::now() + 30s;
  int status = 0;
  bool exited = false;
  while (Clock::now() < deadline) {
    if (::waitpid(process.id(), &status, WNOHANG) == process.id()) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  if (!exited) {
    Poco::Process::kill(process);
    ::waitpid(process.id(), &status, 0);
  }
  reader.join();
  std::cout << "---- wrk output ----\n" << text << "--------------------\n";

  ASSERT_TRUE(exited) << "wrk did not finish";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(std::string::npos, text.find("Socket errors")) << "wrk saw socket errors";
  EXPECT_EQ(std::string::npos, text.find("Non-2xx")) << "/health answered something but 200";
  std::smatch match;
  ASSERT_TRUE(std::regex_search(text, match, std::regex("([0-9]+) requests in")));
  EXPECT_GT(std::stoll(match[1].str()), 0);

  // And the server is still answering afterwards.
  EXPECT_EQ(200, httpGet(server.port(), "/health").status);
}

}  // namespace heimdallr::test
