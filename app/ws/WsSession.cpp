#include "ws/WsSession.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"
#include "ws/RawRelay.h"

namespace heimdallr::ws {

namespace {
std::atomic<uint64_t> nextSerial{1};
}  // namespace

WsSession::WsSession(server::ServerContext& context, net::Connection& connection,
                     std::string clientIp, const auth::Identity* identity, size_t maxMessageBytes,
                     const HandlerFactory& makeHandler)
    : context_(context),
      connection_(connection),
      clientIp_(std::move(clientIp)),
      decoder_(Role::kServer, maxMessageBytes),
      lastActivityMs_(connection.loop().nowMs()),
      serial_(nextSerial.fetch_add(1, std::memory_order_relaxed)),
      metrics_(context.config.metrics.enabled ? &context.metrics.loop(connection.loop().index())
                                              : nullptr) {
  ++context_.sessions;
  if (metrics_) metrics_->connectionsOpened.add();
  if (identity) adoptIdentity(*identity);
  handler_ = makeHandler(*this);
}

WsSession::WsSession(server::ServerContext& context, net::Connection& connection,
                     std::string roomId, std::string clientIp, const auth::Identity* identity)
    : WsSession(context, connection, std::move(clientIp), identity,
                context.config.limits.maxMessageBytes, [&roomId, identity](WsSession& session) {
                  const bool mayPublish = !identity || identity->publish.matches(roomId);
                  return std::make_unique<RawRelay>(session, std::move(roomId), mayPublish);
                }) {}

void WsSession::adoptIdentity(const auth::Identity& identity) {
  expiresAtMs_ = 0;
  if (identity.expiresAtMs > 0) {
    // exp is wall-clock time; the loop clock is monotonic. Convert once, here, so a tick costs
    // a comparison. The leeway the verifier allowed is allowed here too.
    const int64_t wallNowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    const int64_t leftMs = identity.expiresAtMs +
                           std::chrono::milliseconds(context_.config.auth.leeway).count() -
                           wallNowMs;
    expiresAtMs_ = connection_.loop().nowMs() + static_cast<uint64_t>(std::max<int64_t>(1, leftMs));
  }
  if (identity_ && identity_->user == identity.user) {
    identity_->infoJson = identity.infoJson;
    return;
  }
  forgetUser();
  identity_.reset(new auth::SessionIdentity{identity.user, identity.infoJson});
  context_.users.add(connection_.loop().index(), identity_->user, &connection_);
}

int64_t WsSession::expiresInMs() const {
  if (expiresAtMs_ == 0) return -1;
  const uint64_t now = connection_.loop().nowMs();
  return expiresAtMs_ > now ? static_cast<int64_t>(expiresAtMs_ - now) : 0;
}

std::string WsSession::clientId() const { return context_.nodeId + "-" + std::to_string(serial_); }

WsSession::~WsSession() {
  forgetUser();
  --context_.sessions;
  context_.sessionsPerIp.release(clientIp_, context_.config.limits.maxConnectionsPerIp);
}

void WsSession::onData(net::Connection&, const char* data, size_t size) {
  lastActivityMs_ = connection_.loop().nowMs();
  pingOutstanding_ = false;  // any traffic proves the peer is alive
  if (auto error = decoder_.feed(data, size, *this)) closeWith(error.closeCode, error.reason);
}

void WsSession::onTick(net::Connection&, uint64_t nowMs) {
  if (expiresAtMs_ != 0 && nowMs >= expiresAtMs_) {
    closeWith(close_code::kTokenExpired, "token expired");
    return;
  }
  handler_->onTick(nowMs);
  if (connection_.state() != net::Connection::State::kOpen) return;
  const uint64_t idleMs = static_cast<uint64_t>(context_.config.limits.idleTimeout.count()) * 1000;
  if (idleMs == 0) return;
  if (pingOutstanding_) {
    if (nowMs - pingSentMs_ >= idleMs) closeWith(close_code::kIdleTimeout, "idle timeout");
  } else if (nowMs - lastActivityMs_ >= idleMs) {
    pingOutstanding_ = true;
    pingSentMs_ = nowMs;
    connection_.send(encodeFrame(Opcode::kPing, {}));
  }
}

// End of a loop iteration, outside any fan-out: the handler may leave its rooms.
void WsSession::onClosing(net::Connection&) {
  if (metrics_) metrics_->closed(closeReason_);
  forgetUser();
  handler_->onClosing();
}

void WsSession::onShutdown(net::Connection&) {
  closeWith(close_code::kGoingAway, "server shutting down");
}

// The reason text is the hint: browsers expose it as CloseEvent.reason, and the demo page and
// tests read the number from it.
bool WsSession::onDrain(net::Connection&, uint64_t reconnectHintMs) {
  closeWith(close_code::kGoingAway,
            "server draining; reconnect in " + std::to_string(reconnectHintMs) + " ms");
  return true;
}

void WsSession::onEvicted(net::Connection&) {
  closeWith(close_code::kDisconnected, "disconnected by the server");
}

void WsSession::forgetUser() {
  if (!identity_) return;
  context_.users.remove(connection_.loop().index(), identity_->user, &connection_);
  identity_.reset();
}

void WsSession::onMessage(Opcode opcode, std::string&& payload) {
  if (connection_.state() != net::Connection::State::kOpen) return;
  if (metrics_) metrics_->messagesReceived.add();
  handler_->onMessage(opcode, std::move(payload));
}

void WsSession::onPing(std::string_view payload) {
  connection_.send(encodeFrame(Opcode::kPong, payload));
}

void WsSession::onPong(std::string_view) {}

// The peer started the close handshake: echo its code (RFC 6455 §5.5.1; an empty close is
// answered with an empty one) and hang up. Whatever its code, the client chose to go: normal.
void WsSession::onClose(uint16_t code, std::string_view) {
  if (connection_.state() != net::Connection::State::kOpen) return;
  closeReason_ = metrics::CloseReason::kNormal;
  connection_.close(net::makeSharedBuffer(encodeClose(code, {})), false, kCloseLingerMs);
}

void WsSession::closeWith(uint16_t code, std::string_view reason, bool discardQueued) {
  if (connection_.state() != net::Connection::State::kOpen) return;
  closeReason_ = reasonFor(code);
  const size_t discarded = connection_.close(net::makeSharedBuffer(encodeClose(code, reason)),
                                             discardQueued, kCloseLingerMs);
  // A slow consumer loses the frame it refused and the backlog thrown away with it.
  if (metrics_ && discardQueued)
    metrics_->dropped(metrics::DropReason::kSlowConsumer, discarded + 1);
}

metrics::CloseReason WsSession::reasonFor(uint16_t code) {
  switch (code) {
    case close_code::kSlowConsumer:
      return metrics::CloseReason::kSlowConsumer;
    case close_code::kIdleTimeout:
      return metrics::CloseReason::kIdle;
    case close_code::kMessageTooBig:
      return metrics::CloseReason::kTooBig;
    case close_code::kGoingAway:
      return metrics::CloseReason::kShutdown;
    case close_code::kRateLimited:
      return metrics::CloseReason::kRateLimited;
    case close_code::kTokenExpired:
      return metrics::CloseReason::kTokenExpired;
    case close_code::kForbidden:
      return metrics::CloseReason::kForbidden;
    case close_code::kDisconnected:
      return metrics::CloseReason::kDisconnected;
    case close_code::kProtocolError:
    case close_code::kUnsupportedData:
    case close_code::kInvalidPayload:
      return metrics::CloseReason::kProtocolError;
    default:
      return metrics::CloseReason::kNormal;
  }
}

}  // namespace heimdallr::ws
