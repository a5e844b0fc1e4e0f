#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/Identity.h"
#include "metrics/LoopMetrics.h"
#include "net/Connection.h"
#include "net/Protocol.h"
#include "server/ServerContext.h"

namespace heimdallr::http {

struct RequestHead;

/// Which listening socket a connection came in on, and so what it serves.
enum class Listener {
  kMain,    // the only one (api.listen unset): everything
  kPublic,  // the public port while api.listen is set: no /api/*, /metrics or /stats
  kApi,     // api.listen: /api/*, /metrics, /stats and /health only
};

/// The HTTP/1.1 side of a connection, served on its I/O loop: keep-alive and pipelined requests
/// (with Content-Length bodies up to limits.max_api_body_bytes), /health, /stats, /metrics, the
/// server API, the demo page's static files, and the WebSocket upgrade on /{room}, after which the
/// connection's protocol becomes a WsSession. POCO parses the request and writes the responses.
/// Loop thread only.
class HttpConnection : public net::Protocol {
 public:
  /// How long a connection closing after an error response waits for the peer's EOF.
  static constexpr uint64_t kCloseLingerMs = 1000;
  /// Keep-alive idle limit when limits.idle_timeout_s is 0 (disabled for WebSockets).
  static constexpr uint64_t kDefaultKeepAliveMs = 60000;

  HttpConnection(server::ServerContext& context, net::Connection& connection,
                 Listener listener = Listener::kMain);

  void onData(net::Connection& connection, const char* data, size_t size) override;
  void onTick(net::Connection& connection, uint64_t nowMs) override;
  void onClosing(net::Connection&) override {}
  void onShutdown(net::Connection& connection) override {
    connection.close(nullptr, false, kCloseLingerMs);
  }

 private:
  /// Serves every complete request in the buffer. Stops after an upgrade or a close.
  void serveBufferedRequests();
  /// Returns false when the connection stops speaking HTTP (closed or upgraded). `requestBytes`
  /// covers the head and the body.
  bool serve(const RequestHead& head, std::string_view body, size_t requestBytes, bool keepAlive);
  bool serveApi(const RequestHead& head, std::string_view body, bool keepAlive);
  bool upgrade(const RequestHead& head, const std::string& roomId, size_t requestBytes);
  /// Auth on: true with `identity` set from the upgrade's token, or false after answering
  /// 401/403. Auth off: true, `identity` untouched.
  bool authorize(const RequestHead& head, const std::string& roomId,
                 std::optional<auth::Identity>& identity);
  void refuse(metrics::RefusalReason reason, int status, const std::string& text,
              const std::vector<std::pair<std::string, std::string>>& headers = {});
  void reply(std::string&& response, bool keepAlive);

  server::ServerContext& context_;
  net::Connection& connection_;
  const Listener listener_;
  std::string buffer_;
  uint64_t lastActivityMs_;
  uint64_t requestStartMs_ = 0;  // when the first byte of the pending request arrived
  bool servedAny_ = false;
  bool headRequest_ = false;   // the request being answered is a HEAD
  bool continueSent_ = false;  // "100 Continue" answered the pending request's Expect
};

}  // namespace heimdallr::http
