#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace heimdallr::http {

/// The demo page's files under `web.root`, served on the I/O loop: GET / is `index.html`, any other
/// path names a regular file under the root or is a 404. Never lists a directory, never follows a
/// path (or a symlink) out of the root, never serves hidden files (a segment starting with '.').
/// Thread-safe: immutable after construction; each lookup only reads the file system.
class StaticFiles {
 public:
  /// Files larger than this are not served (404): the demo page is a few KiB, and reading must
  /// stay cheap on the loop thread.
  static constexpr size_t kMaxFileBytes = 1 << 20;

  struct File {
    int status = 404;  // 200 or 404
    std::string contentType;
    std::string body;
  };

  /// `root` is canonicalized here (one realpath: cheap enough to build one per request);
  /// relative to the working directory, like bus.plugin_dir. A root that does not exist, or is
  /// not a directory, makes every lookup a 404.
  explicit StaticFiles(const std::string& root);

  /// The file for a raw request target (path and optional query, as received): 200 with its
  /// content type and bytes, or 404.
  File lookup(const std::string& target) const;

  /// The complete HTTP response for `target`; a 404 has the server's usual JSON error body.
  std::string respond(const std::string& target, bool keepAlive) const;

  /// The canonical file a request target names, or nullopt. Percent-decodes once (Poco::URI) and
  /// rejects encoded slashes or backslashes, NUL, backslashes, and any '.'-prefixed segment
  /// (so "..", "%2e%2e"); the canonical result (symlinks resolved) must stay under the root.
  std::optional<std::filesystem::path> resolve(const std::string& target) const;

  /// By extension, case-insensitively: html, css, js, svg, png, ico, json, txt; otherwise
  /// application/octet-stream. Text types carry charset=utf-8.
  static std::string contentTypeFor(const std::filesystem::path& file);

 private:
  std::optional<std::filesystem::path> root_;  // canonical; nullopt when it does not exist
};

}  // namespace heimdallr::http
