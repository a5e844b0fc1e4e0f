#pragma once

#include <cstdint>

namespace heimdallr::ws {

/// WebSocket frame opcodes (RFC 6455 §5.2). Values 3-7 and 11-15 are reserved and never appear
/// here: the decoder rejects them before converting the nibble to an Opcode.
enum class Opcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10,
};

}  // namespace heimdallr::ws
