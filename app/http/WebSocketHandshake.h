#pragma once

#include <Poco/Net/HTTPRequest.h>

#include <string>
#include <vector>

namespace heimdallr::http {

/// The server half of the RFC 6455 opening handshake. Pure functions: thread-safe.

/// True when the request asks for a WebSocket upgrade (an `Upgrade: websocket` header).
bool wantsWebSocketUpgrade(const Poco::Net::HTTPRequest& request);

struct HandshakeVerdict {
  int status = 0;      // 0: acceptable; otherwise the HTTP status to refuse with
  std::string reason;  // for the refusal body
  bool ok() const { return status == 0; }
};

/// Checks method, Connection, Sec-WebSocket-Version (13, else 426 with the version header) and
/// Sec-WebSocket-Key (base64 of 16 bytes, else 400).
HandshakeVerdict checkWebSocketHandshake(const Poco::Net::HTTPRequest& request);

/// server.allowed_origins: true when `allowed` is empty, when the request has no Origin header (a
/// non-browser client, which could send any Origin anyway), or when its Origin equals an entry,
/// case-insensitively (scheme and host are case-insensitive; a trailing '/' is ignored).
bool originAllowed(const Poco::Net::HTTPRequest& request, const std::vector<std::string>& allowed);

/// base64(SHA-1(key + RFC 6455 GUID)), with POCO's SHA1Engine and Base64Encoder.
std::string webSocketAcceptKey(const std::string& clientKey);

/// Whether the client offered `subprotocol` in Sec-WebSocket-Protocol (a comma-separated list,
/// possibly over several headers; tokens compare exactly, as RFC 6455 §4.2.2 says).
bool offersSubprotocol(const Poco::Net::HTTPRequest& request, const std::string& subprotocol);

/// The complete `101 Switching Protocols` response, echoing `subprotocol` when not empty.
std::string switchingProtocolsResponse(const std::string& clientKey,
                                       const std::string& subprotocol = {});

}  // namespace heimdallr::http
