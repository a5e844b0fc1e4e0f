#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "auth/Identity.h"
#include "metrics/LoopMetrics.h"
#include "net/Connection.h"
#include "net/Protocol.h"
#include "server/ServerContext.h"
#include "ws/CloseCode.h"
#include "ws/FrameDecoder.h"
#include "ws/MessageHandler.h"

namespace heimdallr::ws {

/// One WebSocket connection after the upgrade, as a transport: decodes the client's frames,
/// answers pings, pings when idle, ends the session when its token expires, and closes with the
/// right code on bad input. What the messages mean is its MessageHandler's business (RawRelay for
/// ws://host/{room}). Loop thread only (it is a Protocol of a Connection owned by that loop).
class WsSession : public net::Protocol, private FrameDecoder::Handler {
 public:
  /// How long a closing session waits for the peer's EOF after our close frame.
  static constexpr uint64_t kCloseLingerMs = 2000;

  /// Builds the session's protocol handler (RawRelay, v2::V2Handler) once the transport exists.
  using HandlerFactory = std::function<std::unique_ptr<MessageHandler>(WsSession&)>;

  /// A session speaking `makeHandler`'s protocol. `clientIp` holds a slot taken from
  /// context.sessionsPerIp, given back by the destructor. `identity` is the verified token's
  /// (null when auth is off or the protocol authenticates in-band): see adoptIdentity().
  /// `maxMessageBytes`: the largest message the decoder takes (limits.max_message_bytes for the
  /// raw protocol; v2 adds room for the command around its data, so that too large a `data` gets
  /// a 413 reply instead of a 1009 close).
  WsSession(server::ServerContext& context, net::Connection& connection, std::string clientIp,
            const auth::Identity* identity, size_t maxMessageBytes,
            const HandlerFactory& makeHandler);
  /// A session of the raw protocol in `roomId` (a RawRelay); it may publish there unless the
  /// token's `pub` says otherwise.
  WsSession(server::ServerContext& context, net::Connection& connection, std::string roomId,
            std::string clientIp, const auth::Identity* identity = nullptr);
  ~WsSession() override;

  /// Takes who the token says the client is: when the session ends (exp, plus the leeway, as a
  /// loop-clock deadline checked on the tick) and its user for /api/disconnect. The session keeps
  /// only the user and info, so an authenticated session costs a few dozen bytes more, not its
  /// patterns. Called again by an in-band token refresh (same user only; the caller checks).
  void adoptIdentity(const auth::Identity& identity);
  /// Null with auth off (or before an in-band connect).
  const auth::SessionIdentity* identity() const { return identity_.get(); }
  /// Milliseconds until the token expires; -1 for never.
  int64_t expiresInMs() const;
  /// A cluster-unique id for this connection: "<node>-<serial>".
  std::string clientId() const;

  // net::Protocol
  void onData(net::Connection& connection, const char* data, size_t size) override;
  void onTick(net::Connection& connection, uint64_t nowMs) override;
  void onClosing(net::Connection& connection) override;
  void onShutdown(net::Connection& connection) override;
  bool onDrain(net::Connection& connection, uint64_t reconnectHintMs) override;
  void onEvicted(net::Connection& connection) override;

  /// Queues an encoded frame shared with other sessions (the fan-out hot path: no copy, no
  /// lock). A full send queue closes the session as a slow consumer. Returns whether it queued.
  bool deliver(const net::SharedBuffer& frame) {
    if (connection_.state() != net::Connection::State::kOpen) return false;
    if (connection_.send(frame)) return true;
    closeWith(close_code::kSlowConsumer, "slow consumer", /*discardQueued=*/true);
    return false;
  }

  /// A frame of the session's own (a v2 reply): like deliver(), but one frame larger than
  /// limits.send_queue_bytes goes out when nothing else is queued, so that a large join reply
  /// does not close the session for good.
  bool deliverReply(const net::SharedBuffer& frame) {
    if (connection_.state() != net::Connection::State::kOpen) return false;
    if (connection_.send(frame, /*oversizeWhenEmpty=*/true)) return true;
    closeWith(close_code::kSlowConsumer, "slow consumer", /*discardQueued=*/true);
    return false;
  }

  /// Sends a close frame and closes gracefully. `discardQueued` drops frames not yet on the wire
  /// (a slow consumer's backlog) so its memory is freed at once.
  void closeWith(uint16_t code, std::string_view reason, bool discardQueued = false);

  server::ServerContext& context() { return context_; }
  net::Connection& connection() { return connection_; }
  /// This loop's metrics; null when metrics are disabled.
  metrics::LoopMetrics* metrics() { return metrics_; }

 private:
  // FrameDecoder::Handler
  void onMessage(Opcode opcode, std::string&& payload) override;
  void onPing(std::string_view payload) override;
  void onPong(std::string_view payload) override;
  void onClose(uint16_t code, std::string_view reason) override;

  /// The metrics label for a close we start with `code`.
  static metrics::CloseReason reasonFor(uint16_t code);
  /// Leaves the per-user index of /api/disconnect, once.
  void forgetUser();

  server::ServerContext& context_;
  net::Connection& connection_;
  const std::string clientIp_;
  std::unique_ptr<auth::SessionIdentity> identity_;  // null with auth off
  FrameDecoder decoder_;
  uint64_t expiresAtMs_ = 0;  // loop clock; 0 = never (auth off, or a token without exp)
  uint64_t lastActivityMs_;
  uint64_t pingSentMs_ = 0;
  bool pingOutstanding_ = false;
  uint64_t serial_;                // node-unique; clientId() is made from it on demand
  metrics::LoopMetrics* metrics_;  // this loop's; null when metrics are disabled
  metrics::CloseReason closeReason_ = metrics::CloseReason::kAbnormal;  // until a handshake says
  std::unique_ptr<MessageHandler> handler_;  // last: destroyed first, while the rest still lives
};

}  // namespace heimdallr::ws
