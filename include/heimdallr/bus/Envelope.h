// The wire form of a BusMessage for backends that carry only bytes (Redis PubSub): a small
// binary header in front of the payload. Header-only and pure, so plugins need nothing else.
//
//   byte 0      version (1)
//   bytes 1-4   flags, little-endian uint32
//   bytes 5-12  originTimeNs, little-endian int64
//   byte 13     origin length N (0..255)
//   N bytes     origin node id
//   the rest    payload
//
// The subject is not in the envelope: the backend's channel name carries it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::bus {

inline constexpr uint8_t kEnvelopeVersion = 1;
inline constexpr size_t kEnvelopeFixedBytes = 14;

/// Encodes msg (minus its subject). Origins longer than 255 bytes are cut (node ids are <= 64).
inline std::string encodeEnvelope(const BusMessage& msg) {
  const size_t originLen = msg.origin.size() < 255 ? msg.origin.size() : 255;
  std::string out;
  out.reserve(kEnvelopeFixedBytes + originLen + msg.payload.size());
  out.push_back(static_cast<char>(kEnvelopeVersion));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((msg.flags >> (8 * i)) & 0xff));
  const auto time = static_cast<uint64_t>(msg.originTimeNs);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((time >> (8 * i)) & 0xff));
  out.push_back(static_cast<char>(originLen));
  out.append(msg.origin, 0, originLen);
  out.append(msg.payload);
  return out;
}

/// Decodes bytes from the backend. Returns nullopt for anything malformed (short, unknown
/// version, origin running past the end): such input comes from the network and is dropped.
inline std::optional<BusMessage> decodeEnvelope(std::string_view bytes, std::string_view subject) {
  if (bytes.size() < kEnvelopeFixedBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] != kEnvelopeVersion) return std::nullopt;
  BusMessage msg;
  for (int i = 0; i < 4; ++i) msg.flags |= static_cast<uint32_t>(p[1 + i]) << (8 * i);
  uint64_t time = 0;
  for (int i = 0; i < 8; ++i) time |= static_cast<uint64_t>(p[5 + i]) << (8 * i);
  msg.originTimeNs = static_cast<int64_t>(time);
  const size_t originLen = p[13];
  if (bytes.size() < kEnvelopeFixedBytes + originLen) return std::nullopt;
  msg.origin.assign(bytes.substr(kEnvelopeFixedBytes, originLen));
  msg.payload.assign(bytes.substr(kEnvelopeFixedBytes + originLen));
  msg.subject.assign(subject);
  return msg;
}

}  // namespace heimdallr::bus
