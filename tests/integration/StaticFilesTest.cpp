// The demo page served by the real server from web.root: content types, HEAD, no escape from the
// root in any spelling of the request line, and the WebSocket endpoint untouched.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/HttpTestConnection.h"
#include "support/ServerProcess.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
namespace fs = std::filesystem;

const std::string kWebRoot = std::string(HEIMDALLR_SOURCE_DIR) + "/web";

std::string rawGet(const std::string& target, const std::string& method = "GET") {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
}

int statusOf(const std::string& response) {
  static const std::regex kStatusLine("^HTTP/1\\.1 ([0-9]{3}) ");
  std::smatch match;
  return std::regex_search(response, match, kStatusLine) ? std::stoi(match[1].str()) : -1;
}

std::string readFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST(StaticFiles, slash_serves_the_chat_page_as_html) {
  ServerProcess server({"web.root=" + kWebRoot});
  HttpTestConnection http(server.port());
  http.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto page = http.readResponse();
  ASSERT_TRUE(page);
  EXPECT_EQ(200, page->status) << page->head;
  EXPECT_EQ("text/html; charset=utf-8", page->header("Content-Type").value_or(""));
  EXPECT_EQ("nosniff", page->header("X-Content-Type-Options").value_or(""));
  EXPECT_NE(std::string::npos,
            page->header("Content-Security-Policy").value_or("").find("default-src 'self'"));
  EXPECT_EQ(readFile(kWebRoot + "/index.html"), page->body);
  EXPECT_NE(std::string::npos, page->body.find("src=\"/app.js\"")) << page->body;
}

TEST(StaticFiles, every_asset_the_page_references_is_served_with_its_type) {
  ServerProcess server({"web.root=" + kWebRoot});
  const std::string page = httpGet(server.port(), "/").body;
  std::set<std::string> assets;
  static const std::regex kReference("(?:src|href)=\"(/[^\"]*)\"");
  for (std::sregex_iterator it(page.begin(), page.end(), kReference), end; it != end; ++it) {
    assets.insert((*it)[1].str());
  }
  EXPECT_EQ((std::set<std::string>{"/app.js", "/style.css", "/favicon.svg"}), assets) << page;

  const std::pair<const char*, const char*> types[] = {
      {"/app.js", "text/javascript; charset=utf-8"},
      {"/style.css", "text/css; charset=utf-8"},
      {"/favicon.svg", "image/svg+xml"},
      {"/index.html", "text/html; charset=utf-8"},
  };
  HttpTestConnection http(server.port());  // all on one keep-alive connection
  for (const auto& [path, type] : types) {
    SCOPED_TRACE(path);
    http.send(std::string("GET ") + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    auto response = http.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(200, response->status);
    EXPECT_EQ(type, response->header("Content-Type").value_or(""));
    EXPECT_EQ(readFile(kWebRoot + path), response->body);
  }
}

TEST(StaticFiles, head_has_the_get_headers_and_no_body) {
  ServerProcess server({"web.root=" + kWebRoot});
  HttpTestConnection http(server.port());
  http.send(
      "HEAD /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /app.js HTTP/1.1\r\n"
      "Host: 127.0.0.1\r\n\r\n");
  auto head = http.readResponse(/*headRequest=*/true);
  ASSERT_TRUE(head);
  auto full = http.readResponse();
  ASSERT_TRUE(full) << "the HEAD answer carried a body; unread: " << http.unread();
  EXPECT_EQ(200, head->status);
  EXPECT_EQ(full->header("Content-Length"), head->header("Content-Length"));
  EXPECT_EQ(full->header("Content-Type"), head->header("Content-Type"));
  EXPECT_EQ(readFile(kWebRoot + "/app.js"), full->body);
}

TEST(StaticFiles, escapes_from_the_root_are_404_in_every_spelling) {
  ServerProcess server({"web.root=" + kWebRoot});
  // Targets aiming at files one level above web/ (the repository root) or at /etc/passwd.
  const std::string secret = readFile(std::string(HEIMDALLR_SOURCE_DIR) + "/CMakeLists.txt");
  ASSERT_FALSE(secret.empty());
  for (const std::string target : {
           "/../CMakeLists.txt",
           "/..%2fCMakeLists.txt",
           "/..%2FCMakeLists.txt",
           "/%2e%2e/CMakeLists.txt",
           "/%2E%2E%2FCMakeLists.txt",
           "/.%2e/CMakeLists.txt",
           "/%252e%252e/CMakeLists.txt",
           "/%252e%252e%252fCMakeLists.txt",
           "/app.js/../../CMakeLists.txt",
           "/..\\CMakeLists.txt",
           "/..%5cCMakeLists.txt",
           "/../../../../../../etc/passwd",
           "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
           "//etc/passwd",
           "/etc/passwd",
           "/index.html%00.png",
           "http://127.0.0.1/../CMakeLists.txt",
       }) {
    SCOPED_TRACE(target);
    const std::string response = rawHttpExchange(server.port(), rawGet(target));
    EXPECT_EQ(404, statusOf(response)) << response;
    EXPECT_EQ(std::string::npos, response.find("cmake_minimum_required")) << response;
    EXPECT_EQ(std::string::npos, response.find("root:")) << response;
  }
}

TEST(StaticFiles, directories_and_missing_files_are_404_never_a_listing) {
  ServerProcess server({"web.root=" + std::string(HEIMDALLR_SOURCE_DIR)});  // has subdirectories
  for (const std::string target :
       {"/app/", "/app/http/", "/tests/unit", "/.git/config", "/.gitignore", "/nope.js", "/web/"}) {
    SCOPED_TRACE(target);
    const std::string response = rawHttpExchange(server.port(), rawGet(target));
    EXPECT_EQ(404, statusOf(response)) << response;
    EXPECT_EQ(std::string::npos, response.find("HttpConnection")) << response;
  }
  // Files below the root are served; "/" without an index.html is a 404 too.
  EXPECT_EQ(200, statusOf(rawHttpExchange(server.port(), rawGet("/app/http/StaticFiles.h"))));
  EXPECT_EQ(404, statusOf(rawHttpExchange(server.port(), rawGet("/"))));
}

TEST(StaticFiles, a_symlink_out_of_the_root_is_404) {
  std::string pattern = (fs::temp_directory_path() / "heimdallr-web-XXXXXX").string();
  ASSERT_NE(nullptr, ::mkdtemp(pattern.data()));
  const fs::path root = pattern;
  { std::ofstream(root / "index.html") << "<p>tiny</p>"; }
  fs::create_symlink("/etc/passwd", root / "passwd.txt");
  fs::create_directory_symlink(HEIMDALLR_SOURCE_DIR, root / "repo");
  {
    ServerProcess server({"web.root=" + root.string()});
    EXPECT_EQ(200, statusOf(rawHttpExchange(server.port(), rawGet("/"))));
    EXPECT_EQ(404, statusOf(rawHttpExchange(server.port(), rawGet("/passwd.txt"))));
    EXPECT_EQ(404, statusOf(rawHttpExchange(server.port(), rawGet("/repo/CMakeLists.txt"))));
  }
  fs::remove_all(root);
}

TEST(StaticFiles, rooms_health_and_stats_keep_their_meaning) {
  ServerProcess server({"web.root=" + kWebRoot});
  EXPECT_EQ(426, statusOf(rawHttpExchange(server.port(), rawGet("/42"))));
  EXPECT_EQ(426, statusOf(rawHttpExchange(server.port(), rawGet("/index"))))
      << "a valid room id is a room even if web/ had such a file";
  EXPECT_EQ(200, httpGet(server.port(), "/health").status);
  EXPECT_EQ(200, httpGet(server.port(), "/stats").status);
  EXPECT_EQ(405, statusOf(rawHttpExchange(server.port(), rawGet("/app.js", "POST"))));
  // An upgrade on a path that is not a room is still a 404, not the page; on "/" it is protocol
  // v2's, refused with 400 without its subprotocol.
  WsTestClient onIndex(server.port());
  EXPECT_EQ(400, onIndex.handshake("/"));
  WsTestClient onAsset(server.port());
  EXPECT_EQ(404, onAsset.handshake("/app.js"));
  WsTestClient inRoom(server.port());
  EXPECT_EQ(101, inRoom.handshake("/42"));
}

TEST(StaticFiles, a_missing_web_root_serves_404_and_the_server_still_runs) {
  ServerProcess server({"web.root=/nonexistent/heimdallr-web"});
  EXPECT_EQ(404, statusOf(rawHttpExchange(server.port(), rawGet("/"))));
  EXPECT_EQ(200, httpGet(server.port(), "/health").status);
}

}  // namespace heimdallr::test
