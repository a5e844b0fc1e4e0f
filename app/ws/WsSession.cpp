#include "ws/WsSession.h"

#include <algorithm>
#include <chrono>

#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::ws {

WsSession::WsSession(server::ServerContext& context, net::Connection& connection,
                     std::string roomId, std::string clientIp, const auth::Identity* identity)
    : context_(context),
      connection_(connection),
      roomId_(std::move(roomId)),
      clientIp_(std::move(clientIp)),
      decoder_(Role::kServer, context.config.limits.maxMessageBytes),
      rateLimit_(context.config.limits.messagesPerSecond, context.config.limits.burst,
                 connection.loop().nowMs()),
      lastActivityMs_(connection.loop().nowMs()),
      metrics_(context.config.metrics.enabled ? &context.metrics.loop(connection.loop().index())
                                              : nullptr) {
  ++context_.sessions;
  if (metrics_) metrics_->connectionsOpened.add();
  if (identity) {
    mayPublish_ = identity->publish.matches(roomId_);
    if (identity->expiresAtMs > 0) {
      // exp is wall-clock time; the loop clock is monotonic. Convert once, here, so a tick costs
      // a comparison. The leeway the upgrade allowed is allowed here too.
      const int64_t wallNowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
      const int64_t leftMs = identity->expiresAtMs +
                             std::chrono::milliseconds(context.config.auth.leeway).count() -
                             wallNowMs;
      expiresAtMs_ =
          connection.loop().nowMs() + static_cast<uint64_t>(std::max<int64_t>(1, leftMs));
    }
    identity_.reset(new auth::SessionIdentity{identity->user, identity->infoJson});
    context_.users.add(loopIndex(), identity_->user, &connection_);
  }
  context_.hub.join(*this);
  joined_ = true;
}

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

// End of a loop iteration, outside any fan-out: safe to leave the room's member list.
void WsSession::onClosing(net::Connection&) {
  if (metrics_) metrics_->closed(closeReason_);
  forgetUser();
  if (joined_) {
    joined_ = false;
    context_.hub.leave(*this);
  }
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
  context_.users.remove(loopIndex(), identity_->user, &connection_);
  identity_.reset();
}

// Fan-out hot path: one shared frame, no copy, no lock.
bool WsSession::deliver(const net::SharedBuffer& frame) {
  if (connection_.state() != net::Connection::State::kOpen) return false;
  if (connection_.send(frame)) return true;
  closeWith(close_code::kSlowConsumer, "slow consumer", /*discardQueued=*/true);
  return false;
}

void WsSession::onMessage(Opcode opcode, std::string&& payload) {
  if (connection_.state() != net::Connection::State::kOpen) return;
  if (metrics_) metrics_->messagesReceived.add();
  if (!mayPublish_) {
    // A read-only member (the token's `pub`): the raw protocol cannot answer a message, so the
    // session is closed and the message counted, never dropped in silence.
    if (metrics_) metrics_->dropped(metrics::DropReason::kForbidden);
    closeWith(close_code::kForbidden, "publishing in this room is not allowed");
    return;
  }
  const uint64_t nowMs = connection_.loop().nowMs();
  if (!rateLimit_.tryTake(nowMs)) {
    if (context_.config.limits.rateLimitAction == "close") {
      closeWith(close_code::kRateLimited, "rate limit exceeded");
      return;
    }
    if (metrics_) metrics_->dropped(metrics::DropReason::kRateLimited);
    // Stop reading until a tenth of a second's tokens are back. What this read brought is dropped
    // here; what the flooder sends meanwhile waits in the kernel, TCP stalls its sender, and the
    // loop spends no time on it.
    const uint64_t tenthOfASecond =
        std::max<uint64_t>(1, context_.config.limits.messagesPerSecond / 10);
    connection_.pauseReading(rateLimit_.msUntil(tenthOfASecond, nowMs));
    return;
  }
  context_.hub.publish(*this, opcode, std::move(payload));
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
