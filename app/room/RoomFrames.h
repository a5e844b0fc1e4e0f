#pragma once

#include <string>

#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/Storage.h"
#include "net/SharedBuffer.h"

namespace heimdallr::room {

/// The encodings of a room message, one per member format. Pure functions, any thread.
///
/// Raw members get a message as it came: the frame's bytes with its opcode, or for a v2
/// publication the JSON text of its `data` as a text frame. They get no presence events.
net::SharedBuffer rawFrameOf(const bus::BusMessage& msg);

/// v2 members get a JSON push: {"push":"message","room","offset","data","from":{"client","user"}}
/// (offset only in rooms with history; a raw member's text as a JSON string with "raw":true, its
/// binary frame as "b64"), or {"push":"join"|"leave","room","member"}.
net::SharedBuffer v2FrameOf(const std::string& roomId, const bus::BusMessage& msg);

/// The message object of a push or a history list: {"room","offset","data","from"...} without
/// "push" when `push` is false. Appended to `out`.
void appendMessageJson(std::string& out, const std::string& roomId, const bus::BusMessage& msg,
                       bool push);

/// A presence member as JSON: {"client","user","info","node"}, `info` null when absent.
void appendMemberJson(std::string& out, const bus::PresenceMember& member);

}  // namespace heimdallr::room
