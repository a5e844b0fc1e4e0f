#pragma once

#include <cstdint>
#include <string>

#include "auth/RoomPatterns.h"

namespace heimdallr::auth {

/// Who a verified token says the client is, and where it may go. Plain data, immutable once
/// built: shared by a session and whatever asks about it.
struct Identity {
  std::string user;         // `sub`
  RoomPatterns rooms;       // may join
  RoomPatterns publish;     // may publish in: `pub`, or `rooms` when absent; empty = read only
  std::string infoJson;     // the `info` object, compact JSON; "" when absent
  int64_t expiresAtMs = 0;  // `exp` in epoch ms, leeway not added; 0 when the token has none
};

/// What a session keeps of its identity once the upgrade has checked the rooms: who it is (for
/// /api/disconnect) and its `info` (for presence). The patterns are not kept: the session's one
/// room was decided at the upgrade. Plain data.
struct SessionIdentity {
  std::string user;
  std::string infoJson;
};

}  // namespace heimdallr::auth
