#pragma once

#include <Poco/Net/HTTPRequest.h>
#include <Poco/URI.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace heimdallr::http {

/// One request head (request line and headers, through the blank line), parsed by POCO, with the
/// target split into path and query. Plain data, not thread-safe.
struct RequestHead {
  Poco::Net::HTTPRequest request;
  std::string path;
  Poco::URI::QueryParameters query;
  /// True when the request carries a body (Content-Length > 0 or chunked).
  bool hasBody = false;
  /// The Content-Length, 0 when absent. heimdallr reads bodies of this form only.
  uint64_t contentLength = 0;
  /// Transfer-Encoding: chunked, which heimdallr answers with 411 (send a Content-Length).
  bool chunked = false;
};

/// Parses `bytes`, which must end with the blank line. Returns "" on success, otherwise why the
/// request is malformed (the caller answers 400). Never throws; a pure function of its input, so
/// thread-safe and fuzzed as is (tests/fuzz/request_head).
std::string parseRequestHead(std::string_view bytes, RequestHead& head);

/// The room a request path names ("/lobby" -> "lobby"), or "" when the path is not a room.
std::string roomIdOf(std::string_view path);

}  // namespace heimdallr::http
