#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "http/StaticFiles.h"

namespace heimdallr::http {

namespace {
namespace fs = std::filesystem;

void write(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

// base/
//   secret.txt                 outside the root: must never be served
//   web/                       the root
//     index.html app.js style.css favicon.svg logo.png favicon.ico data.json notes.txt blob.bin
//     UPPER.CSS  .hidden  big.txt (over kMaxFileBytes)
//     sub/page.html            a directory: no listing
//     escape.txt -> ../secret.txt, outside -> .. (symlinks out of the root)
//     alias.js -> app.js       a symlink that stays inside
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "heimdallr-static-XXXXXX").string();
    ASSERT_NE(nullptr, ::mkdtemp(pattern.data()));
    base_ = pattern;
    root_ = base_ / "web";
    fs::create_directories(root_ / "sub");
    write(base_ / "secret.txt", "secret");
    write(root_ / "index.html", "<!doctype html><title>chat</title>");
    write(root_ / "app.js", "console.log(1);");
    write(root_ / "style.css", "body{}");
    write(root_ / "favicon.svg", "<svg/>");
    write(root_ / "logo.png", "\x89PNG");
    write(root_ / "favicon.ico", "ico");
    write(root_ / "data.json", "{}");
    write(root_ / "notes.txt", "notes");
    write(root_ / "blob.bin", "bin");
    write(root_ / "UPPER.CSS", "p{}");
    write(root_ / ".hidden", "hidden");
    write(root_ / "big.txt", std::string(StaticFiles::kMaxFileBytes + 1, 'x'));
    write(root_ / "sub" / "page.html", "<p>sub</p>");
    fs::create_symlink("../secret.txt", root_ / "escape.txt");
    fs::create_directory_symlink("..", root_ / "outside");
    fs::create_symlink("app.js", root_ / "alias.js");
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(base_, ignored);
  }

  StaticFiles files() const { return StaticFiles(root_.string()); }

  fs::path base_;
  fs::path root_;
};
}  // namespace

TEST_F(StaticFilesTest, slash_serves_index_html_as_text_html) {
  const auto file = files().lookup("/");
  EXPECT_EQ(200, file.status);
  EXPECT_EQ("text/html; charset=utf-8", file.contentType);
  EXPECT_EQ("<!doctype html><title>chat</title>", file.body);
  EXPECT_EQ(200, files().lookup("/?room=42").status) << "a query does not change the path";
}

TEST_F(StaticFilesTest, picks_the_content_type_by_extension) {
  const std::pair<const char*, const char*> cases[] = {
      {"/index.html", "text/html; charset=utf-8"},
      {"/app.js", "text/javascript; charset=utf-8"},
      {"/style.css", "text/css; charset=utf-8"},
      {"/UPPER.CSS", "text/css; charset=utf-8"},
      {"/favicon.svg", "image/svg+xml"},
      {"/logo.png", "image/png"},
      {"/favicon.ico", "image/x-icon"},
      {"/data.json", "application/json"},
      {"/notes.txt", "text/plain; charset=utf-8"},
      {"/blob.bin", "application/octet-stream"},
      {"/sub/page.html", "text/html; charset=utf-8"},
  };
  for (const auto& [path, type] : cases) {
    SCOPED_TRACE(path);
    const auto file = files().lookup(path);
    EXPECT_EQ(200, file.status);
    EXPECT_EQ(type, file.contentType);
  }
  EXPECT_EQ("console.log(1);", files().lookup("/app.js").body);
}

TEST_F(StaticFilesTest, percent_encoded_names_are_decoded_once) {
  write(root_ / "a b.txt", "space");
  write(root_ / "%41.txt", "literal percent");
  EXPECT_EQ("space", files().lookup("/a%20b.txt").body);
  EXPECT_EQ("literal percent", files().lookup("/%2541.txt").body) << "decoded twice";
}

TEST_F(StaticFilesTest, never_lists_a_directory) {
  for (const char* path : {"/sub", "/sub/", "//", "/sub/.", "/outside/web"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(404, files().lookup(path).status);
  }
}

TEST_F(StaticFilesTest, dot_dot_segments_are_404_in_every_spelling) {
  for (const char* path : {"/../secret.txt", "/sub/../../secret.txt", "/sub/../index.html", "/..",
                           "/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt",
                           "/sub/%2e%2e/%2e%2e/secret.txt", "http://127.0.0.1/../secret.txt"}) {
    SCOPED_TRACE(path);
    EXPECT_FALSE(files().resolve(path));
    EXPECT_EQ(404, files().lookup(path).status);
  }
}

TEST_F(StaticFilesTest, encoded_separators_and_backslashes_are_404) {
  for (const char* path :
       {"/..%2fsecret.txt", "/..%2Fsecret.txt", "/sub%2fpage.html", "/%2e%2e%2fsecret.txt",
        "/..%5csecret.txt", "/..\\secret.txt", "/sub\\page.html", "/%5c..%5csecret.txt"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(404, files().lookup(path).status);
  }
}

TEST_F(StaticFilesTest, double_encoding_is_not_decoded_into_an_escape) {
  for (const char* path : {"/%252e%252e/secret.txt", "/%252e%252e%252fsecret.txt",
                           "/..%252fsecret.txt", "/%25252e%25252e/secret.txt"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(404, files().lookup(path).status);
  }
}

TEST_F(StaticFilesTest, absolute_paths_stay_inside_the_root) {
  const std::string secret = (base_ / "secret.txt").string();
  for (const std::string& path :
       {"/" + secret, "/" + secret.substr(1), "//" + secret, std::string("/etc/passwd"),
        std::string("//etc/passwd"), std::string("/%2fetc%2fpasswd")}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(404, files().lookup(path).status);
  }
}

TEST_F(StaticFilesTest, nul_bad_escapes_and_relative_targets_are_404) {
  for (const char* path :
       {"/index.html%00", "/index.html%00.png", "/%zz", "/index.html%", "index.html", "", "*"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(404, files().lookup(path).status);
  }
}

TEST_F(StaticFilesTest, symlinks_out_of_the_root_are_404) {
  EXPECT_EQ(404, files().lookup("/escape.txt").status);
  EXPECT_EQ(404, files().lookup("/outside/secret.txt").status);
  // A link that stays inside is an ordinary file.
  const auto alias = files().lookup("/alias.js");
  EXPECT_EQ(200, alias.status);
  EXPECT_EQ("text/javascript; charset=utf-8", alias.contentType);
}

TEST_F(StaticFilesTest, a_root_that_is_itself_a_symlink_still_serves) {
  fs::create_directory_symlink(root_, base_ / "link-to-web");
  EXPECT_EQ(200, StaticFiles((base_ / "link-to-web").string()).lookup("/app.js").status);
  EXPECT_EQ(404, StaticFiles((base_ / "link-to-web").string()).lookup("/../secret.txt").status);
}

TEST_F(StaticFilesTest, hidden_missing_and_oversized_files_are_404) {
  EXPECT_EQ(404, files().lookup("/.hidden").status);
  EXPECT_EQ(404, files().lookup("/nope.js").status);
  EXPECT_EQ(404, files().lookup("/big.txt").status);
}

TEST_F(StaticFilesTest, a_missing_root_serves_nothing) {
  const StaticFiles missing((base_ / "no-such-dir").string());
  EXPECT_EQ(404, missing.lookup("/").status);
  EXPECT_EQ(404, StaticFiles((root_ / "app.js").string()).lookup("/").status)
      << "a file is not a root";
}

TEST_F(StaticFilesTest, respond_builds_a_200_with_type_and_length_or_a_json_404) {
  const std::string ok = files().respond("/style.css", true);
  EXPECT_EQ(0u, ok.rfind("HTTP/1.1 200", 0)) << ok;
  EXPECT_NE(std::string::npos, ok.find("Content-Type: text/css; charset=utf-8\r\n")) << ok;
  EXPECT_NE(std::string::npos, ok.find("Content-Length: 6\r\n")) << ok;
  EXPECT_NE(std::string::npos, ok.find("X-Content-Type-Options: nosniff\r\n")) << ok;
  EXPECT_EQ("body{}", ok.substr(ok.size() - 6));

  const std::string missing = files().respond("/../secret.txt", false);
  EXPECT_EQ(0u, missing.rfind("HTTP/1.1 404", 0)) << missing;
  EXPECT_NE(std::string::npos, missing.find("application/json")) << missing;
  EXPECT_EQ(std::string::npos, missing.find("secret")) << missing;
}

}  // namespace heimdallr::http
