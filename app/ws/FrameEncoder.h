#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ws/Opcode.h"

// WebSocket frame encoding (RFC 6455 §5.2). Free functions without shared state: thread-safe.
// Each function returns the whole frame built with exactly one allocation, so a room can encode a
// message once and share the buffer with every loop.

namespace heimdallr::ws {

/// Largest payload of a control frame (close, ping, pong), RFC 6455 §5.5.
inline constexpr size_t kMaxControlPayload = 125;

/// Bytes of frame header in front of a payload of `payloadLen` bytes: 2, +2 or +8 for the extended
/// length, +4 for the masking key.
size_t frameHeaderSize(size_t payloadLen, bool masked);

/// A server-to-client frame (unmasked). The caller keeps control payloads within
/// kMaxControlPayload and fragments in order (first kText/kBinary, then kContinuation).
std::string encodeFrame(Opcode op, std::string_view payload, bool fin = true);

/// An unmasked close frame. close_code::kNoStatus (and kAbnormal, which must never reach the wire
/// either) give an empty payload. A reason that does not fit in a control frame is cut at a UTF-8
/// character boundary to at most 123 bytes.
std::string encodeClose(uint16_t code, std::string_view reason);

/// A client-to-server frame masked with `maskKey`; its most significant byte is the first mask
/// byte on the wire. Used by tests and the benchmark load generator.
std::string encodeMaskedFrame(Opcode op, std::string_view payload, uint32_t maskKey,
                              bool fin = true);

/// XORs `data` with the masking key (RFC 6455 §5.3), a word at a time. `offset` is the position
/// of data[0] within the frame payload, so a payload can be (un)masked in pieces. Masking is its
/// own inverse: the decoder uses this to unmask.
void applyMask(char* data, size_t len, uint32_t maskKey, size_t offset = 0);

}  // namespace heimdallr::ws
