#pragma once

#include <cstdint>

/// WebSocket close status codes (RFC 6455 §7.4) and the application codes heimdallr sends.
namespace heimdallr::ws::close_code {

inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;
inline constexpr uint16_t kProtocolError = 1002;
inline constexpr uint16_t kUnsupportedData = 1003;
/// Reported locally when a close frame has no payload. Never sent on the wire.
inline constexpr uint16_t kNoStatus = 1005;
/// Reported locally when the connection dropped without a close frame. Never sent on the wire.
inline constexpr uint16_t kAbnormal = 1006;
inline constexpr uint16_t kInvalidPayload = 1007;
inline constexpr uint16_t kPolicyViolation = 1008;
inline constexpr uint16_t kMessageTooBig = 1009;
inline constexpr uint16_t kInternalError = 1011;
inline constexpr uint16_t kTryAgainLater = 1013;

// Application range (4000-4999), documented for clients.

/// No pong arrived within the idle timeout.
inline constexpr uint16_t kIdleTimeout = 4000;
/// The connect token's `exp` (plus auth.leeway_s) passed during the session: reconnect with a
/// fresh token.
inline constexpr uint16_t kTokenExpired = 4001;
/// Protocol v2: no `connect` command within limits.handshake_timeout_ms of the upgrade.
inline constexpr uint16_t kConnectTimeout = 4002;
/// A publish into a room outside the token's `pub` claim. The raw protocol has no other way to
/// say so; the message was not delivered.
inline constexpr uint16_t kForbidden = 4003;
/// POST /api/disconnect named this session's user (e.g. its token was revoked). Do not reconnect
/// with the same token.
inline constexpr uint16_t kDisconnected = 4010;
/// Closed because the client did not read fast enough and its send queue passed
/// limits.send_queue_bytes.
inline constexpr uint16_t kSlowConsumer = 4008;
/// Closed because the client sent messages faster than limits.messages_per_second (with
/// limits.burst) and limits.rate_limit_action is "close".
inline constexpr uint16_t kRateLimited = 4029;

/// True if a peer may send `code` in a close frame (RFC 6455 §7.4.1/§7.4.2). 1004-1006 and 1015
/// are reserved or local-only; 1012-1014 are registered with IANA and Autobahn accepts them;
/// 3000-4999 are for libraries and applications; everything else is reserved.
constexpr bool isValidReceivedCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace heimdallr::ws::close_code
