#include "http/WebSocketHandshake.h"

#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/SHA1Engine.h>
#include <Poco/String.h>
#include <Poco/StringTokenizer.h>

#include <sstream>

namespace heimdallr::http {

namespace {
constexpr const char* kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// True when the comma-separated header value contains `token`, case-insensitively.
bool headerHasToken(const Poco::Net::HTTPRequest& request, const std::string& name,
                    const std::string& token) {
  const std::string value = request.get(name, "");
  Poco::StringTokenizer tokens(
      value, ",", Poco::StringTokenizer::TOK_TRIM | Poco::StringTokenizer::TOK_IGNORE_EMPTY);
  for (const auto& t : tokens) {
    if (Poco::icompare(t, token) == 0) return true;
  }
  return false;
}

size_t decodedBase64Size(const std::string& text) {
  std::istringstream in(text);
  Poco::Base64Decoder decoder(in);
  std::string bytes;
  try {
    char c;
    while (decoder.get(c)) bytes.push_back(c);
  } catch (const Poco::Exception&) {
    return 0;
  }
  return bytes.size();
}
}  // namespace

bool wantsWebSocketUpgrade(const Poco::Net::HTTPRequest& request) {
  return headerHasToken(request, "Upgrade", "websocket");
}

HandshakeVerdict checkWebSocketHandshake(const Poco::Net::HTTPRequest& request) {
  if (request.getMethod() != Poco::Net::HTTPRequest::HTTP_GET) {
    return {405, "a WebSocket handshake must be a GET"};
  }
  if (request.getVersion() != Poco::Net::HTTPMessage::HTTP_1_1) {
    return {400, "a WebSocket handshake needs HTTP/1.1"};
  }
  if (!headerHasToken(request, "Connection", "upgrade")) {
    return {400, "missing Connection: Upgrade"};
  }
  if (request.get("Sec-WebSocket-Version", "") != "13") {
    return {426, "unsupported Sec-WebSocket-Version; this server speaks 13"};
  }
  const std::string key = Poco::trim(request.get("Sec-WebSocket-Key", ""));
  if (key.size() != 24 || decodedBase64Size(key) != 16) {
    return {400, "Sec-WebSocket-Key must be the base64 of 16 bytes"};
  }
  return {};
}

bool originAllowed(const Poco::Net::HTTPRequest& request, const std::vector<std::string>& allowed) {
  if (allowed.empty() || !request.has("Origin")) return true;
  std::string origin = Poco::trim(request.get("Origin"));
  if (origin.ends_with('/')) origin.pop_back();
  for (const std::string& entry : allowed) {
    if (Poco::icompare(entry, origin) == 0) return true;
  }
  return false;
}

std::string webSocketAcceptKey(const std::string& clientKey) {
  Poco::SHA1Engine sha1;
  sha1.update(Poco::trim(clientKey) + kGuid);
  const auto& digest = sha1.digest();
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.write(reinterpret_cast<const char*>(digest.data()),
                static_cast<std::streamsize>(digest.size()));
  encoder.close();
  return out.str();
}

bool offersSubprotocol(const Poco::Net::HTTPRequest& request, const std::string& subprotocol) {
  for (const auto& [name, value] : request) {
    if (Poco::icompare(name, "Sec-WebSocket-Protocol") != 0) continue;
    Poco::StringTokenizer offered(
        value, ",", Poco::StringTokenizer::TOK_TRIM | Poco::StringTokenizer::TOK_IGNORE_EMPTY);
    if (offered.has(subprotocol)) return true;
  }
  return false;
}

std::string switchingProtocolsResponse(const std::string& clientKey,
                                       const std::string& subprotocol) {
  Poco::Net::HTTPResponse response(Poco::Net::HTTPMessage::HTTP_1_1,
                                   Poco::Net::HTTPResponse::HTTP_SWITCHING_PROTOCOLS);
  response.set("Upgrade", "websocket");
  response.set("Connection", "Upgrade");
  response.set("Sec-WebSocket-Accept", webSocketAcceptKey(clientKey));
  if (!subprotocol.empty()) response.set("Sec-WebSocket-Protocol", subprotocol);
  std::ostringstream out;
  response.write(out);
  return out.str();
}

}  // namespace heimdallr::http
