#pragma once

#include <cstdint>
#include <string>

/// A room's message stream, as history and recovery see it (Centrifugo's model): every message a
/// room keeps history for gets the next offset (1, 2, ...), and the epoch names one life of the
/// stream. When the stream is lost and made again (Redis flushed, its TTL passed), the epoch
/// changes and offsets of the old epoch mean nothing. Plain data.
namespace heimdallr::history {

/// The last message of a stream a client has seen: its offset, in that epoch (0 = none yet).
struct StreamPosition {
  uint64_t offset = 0;
  std::string epoch;
  bool operator==(const StreamPosition&) const = default;
};

/// What the store holds of a stream now: its epoch, the offset of its newest message (0 when it
/// never had one), and the offset of the oldest it still keeps (top + 1 when it keeps none).
struct StreamState {
  std::string epoch;
  uint64_t top = 0;
  uint64_t oldest = 1;
};

}  // namespace heimdallr::history
