#include "http/StaticFiles.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

#include "http/HttpResponse.h"

namespace heimdallr::http {

namespace fs = std::filesystem;

namespace {
// Scripts, styles and images from this origin only (WebSockets to any ws:/wss: host, as older
// browsers do not match them against 'self'): even if a message were ever rendered as HTML by
// mistake, an injected inline handler would not run.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; "
    "frame-ancestors 'none'";

std::string toLower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

// True when `path` is `root` or below it; both canonical.
bool isUnder(const fs::path& path, const fs::path& root) {
  return std::mismatch(root.begin(), root.end(), path.begin(), path.end()).first == root.end();
}
}  // namespace

StaticFiles::StaticFiles(const std::string& root) {
  std::error_code error;
  fs::path canonical = fs::canonical(root, error);
  if (!error && fs::is_directory(canonical, error) && !error) root_ = std::move(canonical);
}

std::optional<fs::path> StaticFiles::resolve(const std::string& target) const {
  if (!root_) return std::nullopt;
  // An encoded separator in the raw path would become a separator after decoding: no file of
  // ours needs one, so refuse it outright rather than reason about it.
  const std::string rawPath = toLower(target.substr(0, target.find('?')));
  if (rawPath.find("%2f") != std::string::npos || rawPath.find("%5c") != std::string::npos) {
    return std::nullopt;
  }
  std::string path;
  try {
    path = Poco::URI(target).getPath();  // percent-decoded exactly once
  } catch (const Poco::Exception&) {
    return std::nullopt;
  }
  if (path.empty() || path.front() != '/') return std::nullopt;
  if (path.find('\0') != std::string::npos || path.find('\\') != std::string::npos) {
    return std::nullopt;
  }

  fs::path relative;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string_view segment(path.data() + start, end - start);
    if (!segment.empty()) {
      if (segment.front() == '.') return std::nullopt;  // "..", "." and hidden files
      relative /= fs::path(std::string(segment));
    }
    start = end + 1;
  }
  if (relative.empty()) {
    if (path != "/") return std::nullopt;  // "//" and friends: only "/" is the index
    relative = "index.html";
  }

  std::error_code error;
  fs::path file = fs::canonical(*root_ / relative, error);  // resolves every symlink
  if (error || !isUnder(file, *root_)) return std::nullopt;
  if (!fs::is_regular_file(file, error) || error) return std::nullopt;  // never a listing
  return file;
}

StaticFiles::File StaticFiles::lookup(const std::string& target) const {
  File result;
  const auto file = resolve(target);
  if (!file) return result;
  std::error_code error;
  const auto size = fs::file_size(*file, error);
  if (error || size > kMaxFileBytes) return result;
  std::ifstream in(*file, std::ios::binary);
  if (!in) return result;
  std::string body(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) return result;
  result.status = 200;
  result.contentType = contentTypeFor(*file);
  result.body = std::move(body);
  return result;
}

std::string StaticFiles::respond(const std::string& target, bool keepAlive) const {
  const File file = lookup(target);
  if (file.status != 200) return makeErrorResponse(404, "not found", keepAlive);
  return makeHttpResponse(
      200, file.contentType, file.body, keepAlive,
      {{"X-Content-Type-Options", "nosniff"}, {"Content-Security-Policy", kContentSecurityPolicy}});
}

std::string StaticFiles::contentTypeFor(const fs::path& file) {
  const std::string extension = toLower(file.extension().string());
  if (extension == ".html" || extension == ".htm") return "text/html; charset=utf-8";
  if (extension == ".css") return "text/css; charset=utf-8";
  if (extension == ".js" || extension == ".mjs") return "text/javascript; charset=utf-8";
  if (extension == ".json") return "application/json";
  if (extension == ".txt") return "text/plain; charset=utf-8";
  if (extension == ".svg") return "image/svg+xml";
  if (extension == ".png") return "image/png";
  if (extension == ".ico") return "image/x-icon";
  return "application/octet-stream";
}

}  // namespace heimdallr::http
