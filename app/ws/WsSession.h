#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "auth/Identity.h"
#include "metrics/LoopMetrics.h"
#include "net/Connection.h"
#include "net/Protocol.h"
#include "room/RoomMember.h"
#include "server/ServerContext.h"
#include "ws/FrameDecoder.h"
#include "ws/TokenBucket.h"

namespace heimdallr::ws {

/// One WebSocket connection after the upgrade: decodes the client's frames, relays its messages to
/// its room, answers pings, pings when idle, and closes with the right code on bad input.
/// Loop thread only (it is a Protocol of a Connection owned by that loop).
class WsSession : public net::Protocol, public room::RoomMember, private FrameDecoder::Handler {
 public:
  /// How long a closing session waits for the peer's EOF after our close frame.
  static constexpr uint64_t kCloseLingerMs = 2000;

  /// `clientIp` holds a slot taken from context.sessionsPerIp, given back by the destructor.
  /// `identity` is the verified token's (null when auth is off): it decides here whether this
  /// session may publish in its room and when it ends (exp); the session keeps only the user and
  /// info of it, so an authenticated session costs a few dozen bytes more, not its patterns.
  WsSession(server::ServerContext& context, net::Connection& connection, std::string roomId,
            std::string clientIp, const auth::Identity* identity = nullptr);
  ~WsSession() override;

  // net::Protocol
  void onData(net::Connection& connection, const char* data, size_t size) override;
  void onTick(net::Connection& connection, uint64_t nowMs) override;
  void onClosing(net::Connection& connection) override;
  void onShutdown(net::Connection& connection) override;
  bool onDrain(net::Connection& connection, uint64_t reconnectHintMs) override;
  void onEvicted(net::Connection& connection) override;

  // room::RoomMember
  const std::string& roomId() const override { return roomId_; }
  int loopIndex() const override { return connection_.loop().index(); }
  bool deliver(const net::SharedBuffer& frame) override;

 private:
  // FrameDecoder::Handler
  void onMessage(Opcode opcode, std::string&& payload) override;
  void onPing(std::string_view payload) override;
  void onPong(std::string_view payload) override;
  void onClose(uint16_t code, std::string_view reason) override;

  /// Sends a close frame and closes gracefully. `discardQueued` drops frames not yet on the wire
  /// (a slow consumer's backlog) so its memory is freed at once.
  void closeWith(uint16_t code, std::string_view reason, bool discardQueued = false);
  /// The metrics label for a close we start with `code`.
  static metrics::CloseReason reasonFor(uint16_t code);
  /// Leaves the per-user index of /api/disconnect, once.
  void forgetUser();

  server::ServerContext& context_;
  net::Connection& connection_;
  const std::string roomId_;
  const std::string clientIp_;
  std::unique_ptr<const auth::SessionIdentity> identity_;  // null with auth off
  FrameDecoder decoder_;
  TokenBucket rateLimit_;
  bool joined_ = false;
  bool mayPublish_ = true;    // the token's `pub` covers the room (always, with auth off)
  uint64_t expiresAtMs_ = 0;  // loop clock; 0 = never (auth off, or a token without exp)
  uint64_t lastActivityMs_;
  uint64_t pingSentMs_ = 0;
  bool pingOutstanding_ = false;
  metrics::LoopMetrics* metrics_;  // this loop's; null when metrics are disabled
  metrics::CloseReason closeReason_ = metrics::CloseReason::kAbnormal;  // until a handshake says
};

}  // namespace heimdallr::ws
