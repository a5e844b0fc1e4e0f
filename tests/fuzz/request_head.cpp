// libFuzzer target: the HTTP request head as HttpConnection sees it, on arbitrary bytes.
//
// The input is cut at its first blank line (or gets one appended), exactly as the connection cuts
// its buffer, and parsed with http::parseRequestHead, which must never throw. A request that
// parses goes through what the connection then does with it: keep-alive, roomIdOf(path), the
// upgrade checks and the 101 answer for its key. A request that does not parse gets the 400
// answer the connection sends, which must itself be a well-formed response carrying the reason.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPResponse.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "http/HttpResponse.h"
#include "http/RequestHead.h"
#include "http/WebSocketHandshake.h"
#include "room/RoomId.h"

namespace {

using namespace heimdallr;

constexpr std::string_view kHeaderEnd = "\r\n\r\n";

// Reads a response back with POCO: the status line and the headers must parse, and the body must
// be exactly Content-Length bytes.
std::string bodyOf(const std::string& response, int expectedStatus) {
  std::istringstream in(response);
  Poco::Net::HTTPResponse parsed;
  parsed.read(in);
  FUZZ_CHECK(parsed.getStatus() == expectedStatus);
  const std::string body(std::istreambuf_iterator<char>(in), {});
  FUZZ_CHECK(parsed.hasContentLength());
  FUZZ_CHECK(parsed.getContentLength64() == static_cast<Poco::Int64>(body.size()));
  return body;
}

bool isBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=';
}

void checkAcceptKey(const std::string& key) {
  const std::string accept = http::webSocketAcceptKey(key);
  // base64 of a 20-byte SHA-1 digest: 28 characters, one '=' of padding.
  FUZZ_CHECK(accept.size() == 28);
  FUZZ_CHECK(accept.back() == '=');
  for (char c : accept) FUZZ_CHECK(isBase64Char(c));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  const size_t end = bytes.find(kHeaderEnd);
  if (end == std::string::npos) {
    bytes += kHeaderEnd;
  } else {
    bytes.resize(end + kHeaderEnd.size());
  }

  http::RequestHead head;
  const std::string error = http::parseRequestHead(bytes, head);
  if (!error.empty()) {
    // The 400 the connection answers with must be well-formed whatever the reason says.
    const std::string body = bodyOf(http::makeErrorResponse(400, error, false), 400);
    const auto json = Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>();
    FUZZ_CHECK(json->getValue<std::string>("error") == error);
    return 0;
  }

  const Poco::Net::HTTPRequest& request = head.request;
  (void)request.getKeepAlive();
  // POCO is lenient about header names (a CR inside one is kept); nothing here echoes them.
  for (const auto& [name, value] : request) (void)(name.size() + value.size());
  for (const auto& [name, value] : head.query) (void)(name.size() + value.size());

  const std::string roomId = http::roomIdOf(head.path);
  if (!roomId.empty()) {
    FUZZ_CHECK(room::isValidRoomId(roomId));
    FUZZ_CHECK(head.path == "/" + roomId);
  }

  (void)http::wantsWebSocketUpgrade(request);
  const http::HandshakeVerdict verdict = http::checkWebSocketHandshake(request);
  if (verdict.ok()) {
    const std::string key = request.get("Sec-WebSocket-Key");
    checkAcceptKey(key);
    const std::string response = http::switchingProtocolsResponse(key);
    FUZZ_CHECK(response.starts_with("HTTP/1.1 101"));
    FUZZ_CHECK(response.ends_with(kHeaderEnd));
    FUZZ_CHECK(response.find(kHeaderEnd) == response.size() - kHeaderEnd.size());
  } else {
    FUZZ_CHECK(verdict.status == 400 || verdict.status == 405 || verdict.status == 426);
    FUZZ_CHECK(!verdict.reason.empty());
    (void)bodyOf(http::makeErrorResponse(verdict.status, verdict.reason, false), verdict.status);
    // The accept key is a pure function of any string, even one the handshake refuses.
    if (request.has("Sec-WebSocket-Key")) checkAcceptKey(request.get("Sec-WebSocket-Key"));
  }
  return 0;
}
