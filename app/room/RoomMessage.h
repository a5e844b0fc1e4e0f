#pragma once

#include <cstdint>
#include <memory>

#include "heimdallr/bus/Bus.h"
#include "net/SharedBuffer.h"

namespace heimdallr::room {

/// How a member wants a room's messages: the raw protocol's frames as they came, or protocol v2's
/// JSON pushes.
enum class MemberFormat : uint8_t { kRaw, kV2 };

/// One message of a room on its way to this node's members: the bus message (payload and
/// metadata: kind, offset, sender) and one encoded frame per format. Each frame is encoded at most
/// once per node, on the room's home loop before the fan-out (or earlier, by whoever had it at
/// hand), and only if a member of that format is here. Immutable once handed to the fan-out, hence
/// safe to share across loops.
struct RoomMessage {
  bus::BusMessagePtr bus;
  net::SharedBuffer rawFrame;  ///< for raw members; stays null for what they never see (presence)
  net::SharedBuffer v2Frame;   ///< for v2 members
  int64_t originNs = 0;        ///< CLOCK_REALTIME at arrival on the origin node (latency)
};
using RoomMessagePtr = std::shared_ptr<const RoomMessage>;

}  // namespace heimdallr::room
