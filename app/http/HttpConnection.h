#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "metrics/LoopMetrics.h"
#include "net/Connection.h"
#include "net/Protocol.h"
#include "server/ServerContext.h"

namespace Poco::Net {
class HTTPRequest;
}

namespace heimdallr::http {

struct RequestHead;

/// The HTTP/1.1 side of a connection, served on its I/O loop: keep-alive and pipelined requests,
/// /health, /stats, /metrics, the demo page's static files, and the WebSocket upgrade on /{room},
/// after which the connection's protocol becomes a WsSession. POCO parses the request and writes
/// the responses. Loop thread only.
class HttpConnection : public net::Protocol {
 public:
  /// How long a connection closing after an error response waits for the peer's EOF.
  static constexpr uint64_t kCloseLingerMs = 1000;
  /// Keep-alive idle limit when limits.idle_timeout_s is 0 (disabled for WebSockets).
  static constexpr uint64_t kDefaultKeepAliveMs = 60000;

  HttpConnection(server::ServerContext& context, net::Connection& connection);

  void onData(net::Connection& connection, const char* data, size_t size) override;
  void onTick(net::Connection& connection, uint64_t nowMs) override;
  void onClosing(net::Connection&) override {}
  void onShutdown(net::Connection& connection) override {
    connection.close(nullptr, false, kCloseLingerMs);
  }

 private:
  /// Serves every complete request in the buffer. Stops after an upgrade or a close.
  void serveBufferedRequests();
  /// Returns false when the connection stops speaking HTTP (closed or upgraded).
  bool serve(const RequestHead& head, size_t requestBytes, bool keepAlive);
  bool upgrade(const Poco::Net::HTTPRequest& request, const std::string& roomId,
               size_t requestBytes);
  void refuse(metrics::RefusalReason reason, int status, const std::string& text,
              const std::vector<std::pair<std::string, std::string>>& headers = {});
  void reply(std::string&& response, bool keepAlive);

  server::ServerContext& context_;
  net::Connection& connection_;
  std::string buffer_;
  uint64_t lastActivityMs_;
  uint64_t requestStartMs_ = 0;  // when the first byte of the pending request arrived
  bool servedAny_ = false;
  bool headRequest_ = false;  // the request being answered is a HEAD
};

}  // namespace heimdallr::http
