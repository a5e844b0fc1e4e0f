#pragma once

#include <array>
#include <cstddef>

#include "metrics/Histogram.h"

namespace heimdallr::metrics {

/// Why a WebSocket session ended (the `reason` label of heimdallr_connections_closed_total).
enum class CloseReason : size_t {
  kNormal,         // a close handshake the client started, or 1000 from us
  kSlowConsumer,   // 4008: send queue past limits.send_queue_bytes
  kProtocolError,  // 1002, 1003, 1007
  kTooBig,         // 1009
  kIdle,           // 4000: no pong within the idle timeout
  kShutdown,       // 1001 from us: the server is stopping
  kAbnormal,       // the peer vanished without a close handshake
  kRateLimited,    // 4029: past limits.messages_per_second with rate_limit_action "close"
  kTokenExpired,   // 4001: the connect token's exp passed during the session
  kForbidden,      // 4003: a publish into a room outside the token's `pub`
  kDisconnected,   // 4010: POST /api/disconnect named the session's user
  kCount
};
inline constexpr std::array<const char*, static_cast<size_t>(CloseReason::kCount)>
    kCloseReasonNames = {"normal",        "slow_consumer", "protocol_error", "too_big",
                         "idle",          "shutdown",      "abnormal",       "rate_limited",
                         "token_expired", "forbidden",     "disconnected"};

/// Why a message was not delivered (heimdallr_messages_dropped_total).
enum class DropReason : size_t {
  kSlowConsumer,  // frames discarded with a slow consumer's backlog
  kRateLimited,   // client messages past limits.messages_per_second (rate_limit_action "drop")
  kForbidden,     // a publish into a room outside the token's `pub` (the session is closed, 4003)
  kBusDown,       // a message into a room with history that the store refused (down, timeout)
  kCount
};
inline constexpr std::array<const char*, static_cast<size_t>(DropReason::kCount)> kDropReasonNames =
    {"slow_consumer", "rate_limited", "forbidden", "bus_down"};

/// Who published a room message (the `source` label of heimdallr_messages_published_total).
enum class PublishSource : size_t {
  kClient,  // a WebSocket member of the room
  kApi,     // POST /api/publish or /api/broadcast
  kCount
};
inline constexpr std::array<const char*, static_cast<size_t>(PublishSource::kCount)>
    kPublishSourceNames = {"client", "api"};

/// Why an HTTP request or upgrade was refused by a limit (heimdallr_requests_refused_total).
enum class RefusalReason : size_t {
  kMaxConnections,       // 503: limits.max_connections
  kMaxConnectionsPerIp,  // 429: limits.max_connections_per_ip
  kOrigin,               // 403: Origin not in server.allowed_origins
  kDraining,             // 503: the node is draining
  kHandshakeTimeout,     // 408: request not complete within limits.handshake_timeout_ms
  kHeaderTooLarge,       // 431: request head past limits.max_header_bytes
  kTokenMissing,         // 401: auth on and no token (?token= or Authorization: Bearer)
  kTokenMalformed,       // 401: not a well-formed JWT
  kTokenBadAlgorithm,    // 401: alg none, or outside the configured key's family
  kTokenBadSignature,    // 401: signature does not match
  kTokenBadClaims,       // 401: sub missing, aud/iss mismatch, claims of the wrong type
  kTokenExpired,         // 401: exp (plus auth.leeway_s) has passed
  kTokenNotYetValid,     // 401: nbf or iat in the future (beyond auth.leeway_s)
  kRoomForbidden,        // 403: the room is outside the token's `rooms`
  kApiKey,               // 401: /api/* with a missing or wrong X-API-Key
  kBodyTooLarge,         // 413: request body past limits.max_api_body_bytes
  kCount
};
inline constexpr std::array<const char*, static_cast<size_t>(RefusalReason::kCount)>
    kRefusalReasonNames = {
        "max_connections",     "max_connections_per_ip", "origin",           "draining",
        "handshake_timeout",   "header_too_large",       "token_missing",    "token_malformed",
        "token_bad_algorithm", "token_bad_signature",    "token_bad_claims", "token_expired",
        "token_not_yet_valid", "room_forbidden",         "api_key",          "body_too_large"};

/// What a v2 join with `since` found (the `result` label of heimdallr_recoveries_total).
enum class Recovery : size_t { kRecovered, kNotRecovered, kCount };
inline constexpr std::array<const char*, static_cast<size_t>(Recovery::kCount)> kRecoveryNames = {
    "recovered", "not_recovered"};

inline constexpr std::array<double, 15> kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                          0.005,  0.01,    0.025,  0.05,  0.1,
                                                          0.25,   0.5,     1.0,    2.5,   5.0};
inline constexpr std::array<double, 14> kFanoutBounds = {1,   2,   5,    10,   20,   50,    100,
                                                         200, 500, 1000, 2000, 5000, 10000, 50000};

/// What one I/O loop records. Written only by that loop's thread, read by the scrape; aligned so
/// two loops never share a cache line.
struct alignas(64) LoopMetrics {
  SingleWriterCounter connectionsOpened;
  std::array<SingleWriterCounter, static_cast<size_t>(CloseReason::kCount)> connectionsClosed;
  SingleWriterCounter messagesReceived;  // from clients
  // handed to the bus, by who published them
  std::array<SingleWriterCounter, static_cast<size_t>(PublishSource::kCount)> messagesPublished;
  SingleWriterCounter messagesDelivered;  // frames queued to client connections
  std::array<SingleWriterCounter, static_cast<size_t>(DropReason::kCount)> messagesDropped;
  std::array<SingleWriterCounter, static_cast<size_t>(RefusalReason::kCount)> requestsRefused;
  std::array<SingleWriterCounter, static_cast<size_t>(Recovery::kCount)> recoveries;
  // Numbered messages a room's home loop never got, live or from the store (trimmed, expired)
  SingleWriterCounter streamMessagesLost;
  SingleWriterHistogram<kLatencyBounds.size()> latencyLocal{kLatencyBounds};
  SingleWriterHistogram<kLatencyBounds.size()> latencyBus{kLatencyBounds};
  SingleWriterHistogram<kFanoutBounds.size()> fanout{kFanoutBounds};

  void closed(CloseReason reason) { connectionsClosed[static_cast<size_t>(reason)].add(); }
  void dropped(DropReason reason, uint64_t n = 1) {
    messagesDropped[static_cast<size_t>(reason)].add(n);
  }
  void refused(RefusalReason reason) { requestsRefused[static_cast<size_t>(reason)].add(); }
  void published(PublishSource source) { messagesPublished[static_cast<size_t>(source)].add(); }
  void recovery(Recovery result) { recoveries[static_cast<size_t>(result)].add(); }
};

}  // namespace heimdallr::metrics
