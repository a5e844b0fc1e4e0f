#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace heimdallr::bench {

/// The benchmark message: printable ASCII (valid UTF-8 and a JSON string without escapes, so the
/// same bytes travel as a raw text frame and inside a Socket.IO event), fixed-width hex fields at
/// fixed offsets, padded with 'x' to the chosen size:
///   "HB1 <intended send time, CLOCK_MONOTONIC ns: 16 hex> <publisher id: 8> <seq: 12> <step: 4>
///   xxx…"
/// Free functions without state: thread-safe.
struct Payload {
  uint64_t intendedNs = 0;
  uint32_t publisher = 0;
  uint64_t seq = 0;
  uint32_t step = 0;
};

/// Bytes of the fixed fields; smaller sizes are raised to this.
inline constexpr size_t kPayloadHeaderSize = 48;

/// Writes the payload into `out` (resized to max(size, kPayloadHeaderSize)).
void encodePayload(const Payload& p, size_t size, std::string& out);

/// Parses a payload at the start of `data`; nullopt when it is not one of ours.
std::optional<Payload> decodePayload(std::string_view data);

}  // namespace heimdallr::bench
