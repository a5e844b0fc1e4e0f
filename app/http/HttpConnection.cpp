#include "http/HttpConnection.h"

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/NetException.h>
#include <Poco/String.h>
#include <Poco/URI.h>

#include <chrono>
#include <memory>
#include <optional>

#include "http/HttpResponse.h"
#include "http/RequestHead.h"
#include "http/ServerApi.h"
#include "http/StaticFiles.h"
#include "http/StatusEndpoints.h"
#include "http/WebSocketHandshake.h"
#include "v2/V2Handler.h"
#include "ws/WsSession.h"

namespace heimdallr::http {

namespace {
constexpr std::string_view kHeaderEnd = "\r\n\r\n";

// GET /stats[?scope=node|cluster]; nullopt for any other scope, or for scope given twice.
std::optional<StatusReply> statsFor(const server::ServerContext& context,
                                    const Poco::URI::QueryParameters& query) {
  std::optional<std::string> scope;
  for (const auto& [name, value] : query) {
    if (name != "scope") continue;
    if (scope) return std::nullopt;
    scope = value;
  }
  if (!scope || *scope == "node") return statsReply(context);
  if (*scope == "cluster") return clusterStatsReply(context);
  return std::nullopt;
}
}  // namespace

HttpConnection::HttpConnection(server::ServerContext& context, net::Connection& connection,
                               Listener listener)
    : context_(context),
      connection_(connection),
      listener_(listener),
      lastActivityMs_(connection.loop().nowMs()) {}

void HttpConnection::onData(net::Connection&, const char* data, size_t size) {
  lastActivityMs_ = connection_.loop().nowMs();
  if (buffer_.empty()) requestStartMs_ = lastActivityMs_;
  buffer_.append(data, size);
  serveBufferedRequests();
}

// Slowloris defence: a request must be complete within limits.handshake_timeout_ms of its first
// byte; an idle keep-alive connection is closed after the idle timeout.
void HttpConnection::onTick(net::Connection&, uint64_t nowMs) {
  const auto& limits = context_.config.limits;
  if (!buffer_.empty()) {
    if (nowMs - requestStartMs_ >= static_cast<uint64_t>(limits.handshakeTimeout.count())) {
      refuse(metrics::RefusalReason::kHandshakeTimeout, 408, "request not completed in time");
    }
    return;
  }
  uint64_t idleMs = static_cast<uint64_t>(limits.handshakeTimeout.count());
  if (servedAny_) {
    idleMs = limits.idleTimeout.count() > 0
                 ? static_cast<uint64_t>(limits.idleTimeout.count()) * 1000
                 : kDefaultKeepAliveMs;
  }
  if (nowMs - lastActivityMs_ < idleMs) return;
  // A connection that never sent a byte is the slowloris opening move; a quiet keep-alive is not.
  if (!servedAny_ && context_.config.metrics.enabled) {
    context_.metrics.loop(connection_.loop().index())
        .refused(metrics::RefusalReason::kHandshakeTimeout);
  }
  connection_.close(nullptr, false, kCloseLingerMs);
}

void HttpConnection::serveBufferedRequests() {
  const auto& limits = context_.config.limits;
  while (connection_.state() == net::Connection::State::kOpen && !buffer_.empty()) {
    const size_t end = buffer_.find(kHeaderEnd);
    if (end == std::string::npos) {
      if (buffer_.size() > limits.maxHeaderBytes) {
        refuse(metrics::RefusalReason::kHeaderTooLarge, 431, "request header too large");
      }
      return;
    }
    const size_t headBytes = end + kHeaderEnd.size();
    if (headBytes > limits.maxHeaderBytes) {
      refuse(metrics::RefusalReason::kHeaderTooLarge, 431, "request header too large");
      return;
    }
    RequestHead head;
    if (std::string error = parseRequestHead(std::string_view(buffer_).substr(0, headBytes), head);
        !error.empty()) {
      reply(makeErrorResponse(400, error, false), false);
      return;
    }
    if (head.chunked) {
      reply(makeErrorResponse(411, "chunked bodies are not accepted: send a Content-Length", false),
            false);
      return;
    }
    if (head.contentLength > limits.maxApiBodyBytes) {
      refuse(metrics::RefusalReason::kBodyTooLarge, 413,
             "request body larger than limits.max_api_body_bytes (" +
                 std::to_string(limits.maxApiBodyBytes) + ")");
      return;
    }
    const size_t requestBytes = headBytes + static_cast<size_t>(head.contentLength);
    if (buffer_.size() < requestBytes) {
      // curl asks before sending a body over 1 KiB and waits a second for the answer.
      if (!continueSent_ && Poco::icompare(head.request.get("Expect", ""), "100-continue") == 0) {
        continueSent_ = true;
        connection_.send(std::string("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      return;  // the rest of the body is on its way (within limits.handshake_timeout_ms)
    }
    servedAny_ = true;
    continueSent_ = false;
    const std::string_view body =
        std::string_view(buffer_).substr(headBytes, static_cast<size_t>(head.contentLength));
    if (!serve(head, body, requestBytes, head.request.getKeepAlive())) return;
    buffer_.erase(0, requestBytes);
    requestStartMs_ = lastActivityMs_;
  }
}

bool HttpConnection::serve(const RequestHead& head, std::string_view body, size_t requestBytes,
                           bool keepAlive) {
  const Poco::Net::HTTPRequest& request = head.request;
  const std::string& path = head.path;
  const std::string& method = request.getMethod();
  const bool isHead = method == Poco::Net::HTTPRequest::HTTP_HEAD;
  headRequest_ = isHead;
  const bool statusHere = listener_ != Listener::kPublic;  // /stats, /metrics, /api/*
  if (isApiPath(path) || path == "/metrics" || path == "/stats") {
    if (!statusHere) {
      // Before the room check too: "metrics" and "stats" are valid room ids.
      reply(makeErrorResponse(404, "not served on this port (see api.listen)", keepAlive),
            keepAlive);
      return keepAlive;
    }
    if (isApiPath(path)) return serveApi(head, body, keepAlive);
  }
  if (method != Poco::Net::HTTPRequest::HTTP_GET && !isHead) {
    reply(makeErrorResponse(405, "method not allowed", keepAlive, {{"Allow", "GET, HEAD"}}),
          keepAlive);
    return keepAlive;
  }
  if (path == "/health" || path == "/stats") {
    StatusReply status{};
    if (path == "/health") {
      status = healthReply(context_);
    } else if (auto scoped = statsFor(context_, head.query)) {
      status = std::move(*scoped);
    } else {
      reply(
          makeErrorResponse(400, "bad scope: expected one scope=node or scope=cluster", keepAlive),
          keepAlive);
      return keepAlive;
    }
    reply(makeHttpResponse(status.status, "application/json", status.json, keepAlive), keepAlive);
    return keepAlive;
  }
  // Before the room check: "metrics" is also a valid room id, and /metrics must stay metrics.
  if (path == "/metrics") {
    if (!context_.config.metrics.enabled) {
      reply(makeErrorResponse(404, "metrics are disabled (metrics.enabled)", keepAlive), keepAlive);
    } else {
      reply(makeHttpResponse(200, "text/plain; version=0.0.4; charset=utf-8",
                             context_.metrics.scrape(), keepAlive),
            keepAlive);
    }
    return keepAlive;
  }
  // The API port serves nothing else: no rooms, no demo page.
  const std::string roomId = listener_ == Listener::kApi ? std::string() : roomIdOf(path);
  // The demo page: "/" and any plain GET that is not a room. Upgrades there stay a 404 below.
  if (roomId.empty() && !wantsWebSocketUpgrade(request) && listener_ != Listener::kApi) {
    reply(StaticFiles(context_.config.web.root).respond(request.getURI(), keepAlive), keepAlive);
    return keepAlive;
  }
  // Protocol v2: an upgrade on "/" offering the subprotocol; every other upgrade on "/" is
  // refused with 400, so a client that forgot it learns why.
  if (roomId.empty() && listener_ != Listener::kApi && head.path == "/") {
    if (!offersSubprotocol(request, std::string(v2::kSubprotocol))) {
      reply(makeErrorResponse(400,
                              "protocol v2 lives on \"/\": offer Sec-WebSocket-Protocol: " +
                                  std::string(v2::kSubprotocol) +
                                  " (the raw protocol is ws://host/{room})",
                              false),
            false);
      return false;
    }
    return upgrade(head, std::string(), requestBytes);
  }
  if (roomId.empty()) {
    reply(makeErrorResponse(404, "not found", keepAlive), keepAlive);
    return keepAlive;
  }
  if (!wantsWebSocketUpgrade(request)) {
    reply(makeErrorResponse(426, "this is a WebSocket endpoint", keepAlive,
                            {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}),
          keepAlive);
    return keepAlive;
  }
  return upgrade(head, roomId, requestBytes);
}

bool HttpConnection::serveApi(const RequestHead& head, std::string_view body, bool keepAlive) {
  const std::shared_ptr<const server::Credentials::Set> credentials =
      context_.credentials.current();
  if (credentials->apiKey.empty()) {
    reply(makeErrorResponse(404, "the server API is off (api.key_file)", keepAlive), keepAlive);
    return keepAlive;
  }
  const ApiReply answer =
      http::serveApi(context_, connection_.loop().index(), credentials->apiKey, head, body);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!answer.allow.empty()) headers.emplace_back("Allow", answer.allow);
  reply(makeHttpResponse(answer.status, "application/json", answer.json, keepAlive, headers),
        keepAlive);
  return keepAlive;
}

// The token comes from `Authorization: Bearer` where the client can set headers, else from
// ?token= (browsers cannot). It is never logged, counted or echoed: refusals say only what kind
// of problem it was.
bool HttpConnection::authorize(const RequestHead& head, const std::string& roomId,
                               std::optional<auth::Identity>& identity) {
  const std::shared_ptr<const server::Credentials::Set> credentials =
      context_.credentials.current();
  if (!credentials->verifier) return true;
  std::string token;
  bool ambiguous = false;
  const std::string authorization = head.request.get("Authorization", "");
  if (authorization.size() > 7 && Poco::icompare(authorization.substr(0, 7), "bearer ") == 0) {
    token = Poco::trim(authorization.substr(7));
  }
  for (const auto& [name, value] : head.query) {
    if (name != "token") continue;
    ambiguous = ambiguous || !token.empty();
    token = value;
  }
  const int64_t nowSeconds = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  auth::TokenResult result = ambiguous ? auth::TokenResult{auth::TokenStatus::kMalformed, {}}
                                       : credentials->verifier->verify(token, nowSeconds);
  const std::vector<std::pair<std::string, std::string>> challenge = {
      {"WWW-Authenticate", "Bearer"}};
  switch (result.status) {
    case auth::TokenStatus::kValid:
      break;
    case auth::TokenStatus::kMissing:
      refuse(metrics::RefusalReason::kTokenMissing, 401, "token required", challenge);
      return false;
    case auth::TokenStatus::kExpired:
      refuse(metrics::RefusalReason::kTokenExpired, 401, "token expired", challenge);
      return false;
    case auth::TokenStatus::kNotYetValid:
      refuse(metrics::RefusalReason::kTokenNotYetValid, 401, "token not yet valid", challenge);
      return false;
    case auth::TokenStatus::kBadAlgorithm:
      refuse(metrics::RefusalReason::kTokenBadAlgorithm, 401, "invalid token", challenge);
      return false;
    case auth::TokenStatus::kBadSignature:
      refuse(metrics::RefusalReason::kTokenBadSignature, 401, "invalid token", challenge);
      return false;
    case auth::TokenStatus::kBadClaims:
      refuse(metrics::RefusalReason::kTokenBadClaims, 401, "invalid token", challenge);
      return false;
    case auth::TokenStatus::kMalformed:
    default:
      refuse(metrics::RefusalReason::kTokenMalformed, 401, "invalid token", challenge);
      return false;
  }
  if (!result.identity.rooms.matches(roomId)) {
    refuse(metrics::RefusalReason::kRoomForbidden, 403, "this token does not grant the room");
    return false;
  }
  identity = std::move(result.identity);
  return true;
}

bool HttpConnection::upgrade(const RequestHead& head, const std::string& roomId,
                             size_t requestBytes) {
  const Poco::Net::HTTPRequest& request = head.request;
  const HandshakeVerdict verdict = checkWebSocketHandshake(request);
  if (!verdict.ok()) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (verdict.status == 426) headers.emplace_back("Sec-WebSocket-Version", "13");
    reply(makeErrorResponse(verdict.status, verdict.reason, false, headers), false);
    return false;
  }
  const config::Config& config = context_.config;
  if (!originAllowed(request, config.server.allowedOrigins)) {
    refuse(metrics::RefusalReason::kOrigin, 403, "origin not allowed (server.allowed_origins)");
    return false;
  }
  // v2 authenticates in-band (its connect command); the raw protocol here.
  const bool v2 = roomId.empty();
  std::optional<auth::Identity> identity;
  if (!v2 && !authorize(head, roomId, identity)) return false;
  if (context_.draining.load()) {
    refuse(metrics::RefusalReason::kDraining, 503, "draining: reconnect to another node",
           {{"Retry-After", "1"}});
    return false;
  }
  if (context_.sessions.load() >= static_cast<int64_t>(config.limits.maxConnections)) {
    refuse(metrics::RefusalReason::kMaxConnections, 503,
           "too many connections (limits.max_connections)");
    return false;
  }
  std::string clientIp(server::ipOfPeer(connection_.peer()));
  if (!context_.sessionsPerIp.tryAcquire(clientIp, config.limits.maxConnectionsPerIp)) {
    refuse(metrics::RefusalReason::kMaxConnectionsPerIp, 429,
           "too many connections from this address (limits.max_connections_per_ip)");
    return false;
  }
  connection_.send(switchingProtocolsResponse(request.get("Sec-WebSocket-Key"),
                                              v2 ? std::string(v2::kSubprotocol) : std::string()));
  // Bytes behind the handshake already belong to the WebSocket stream. This object is retired
  // by upgrade() but stays alive until the current onData returns, so buffer_ remains valid.
  const char* pending = buffer_.data() + requestBytes;
  const size_t pendingSize = buffer_.size() - requestBytes;
  std::unique_ptr<ws::WsSession> session;
  if (v2) {
    session = std::make_unique<ws::WsSession>(
        context_, connection_, std::move(clientIp), nullptr,
        config.limits.maxMessageBytes + v2::kCommandOverheadBytes,
        [](ws::WsSession& s) { return std::make_unique<v2::V2Handler>(s); });
  } else {
    session = std::make_unique<ws::WsSession>(context_, connection_, roomId, std::move(clientIp),
                                              identity ? &*identity : nullptr);
  }
  connection_.upgrade(std::move(session), pending, pendingSize);
  return false;
}

// A refusal by a limit: counted by reason, answered, and the connection closed.
void HttpConnection::refuse(metrics::RefusalReason reason, int status, const std::string& text,
                            const std::vector<std::pair<std::string, std::string>>& headers) {
  if (context_.config.metrics.enabled) {
    context_.metrics.loop(connection_.loop().index()).refused(reason);
  }
  reply(makeErrorResponse(status, text, false, headers), false);
}

// Every response leaves through here, so HEAD is handled once: headers (with the Content-Length
// a GET would have) and no body, or a keep-alive client would misread the next response.
void HttpConnection::reply(std::string&& response, bool keepAlive) {
  if (headRequest_) {
    const size_t end = response.find("\r\n\r\n");
    if (end != std::string::npos) response.resize(end + 4);
    headRequest_ = false;
  }
  if (keepAlive) {
    connection_.send(std::move(response));
  } else {
    connection_.close(net::makeSharedBuffer(std::move(response)), false, kCloseLingerMs);
  }
}

}  // namespace heimdallr::http
