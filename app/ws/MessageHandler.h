#pragma once

#include <string>

#include "ws/Opcode.h"

namespace heimdallr::ws {

/// The protocol spoken over a WebSocket session: what its messages mean. WsSession is the
/// transport (frames, pings, timeouts, closing) and hands each complete message here; RawRelay
/// is the ancestor's protocol (every message goes to the one room in the URL). Chosen at the
/// upgrade. Loop thread only: every call happens on the session's loop.
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  /// A complete text or binary message from the client, while the session is open.
  virtual void onMessage(Opcode opcode, std::string&& payload) = 0;
  /// The loop's periodic tick (about once a second), while the session is open.
  virtual void onTick(uint64_t /*nowMs*/) {}
  /// The session started closing: called once, at the end of a loop iteration, outside any
  /// fan-out. Leave rooms here.
  virtual void onClosing() = 0;
};

}  // namespace heimdallr::ws
