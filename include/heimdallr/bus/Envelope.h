// The wire form of a BusMessage for backends that carry only bytes (Redis PubSub, Redis streams):
// a small binary header in front of the payload. Header-only and pure, so plugins need nothing
// else. Integers are little-endian; each text field is a 1-byte length N (0..255) and N bytes.
//
//   byte 0       version (2)
//   bytes 1-4    flags, uint32
//   bytes 5-12   originTimeNs, int64
//   byte 13      kind (MessageKind)
//   bytes 14-21  offset, uint64
//   then         origin, epoch, senderClient, senderUser: length-prefixed text each
//   the rest     payload
//
// The subject is not in the envelope: the backend's channel or key name carries it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/Storage.h"

namespace heimdallr::bus {

inline constexpr uint8_t kEnvelopeVersion = 2;
inline constexpr size_t kEnvelopeFixedBytes = 22;
/// Text fields longer than this are cut (on a UTF-8 boundary): node ids and epochs are <= 64
/// bytes and client ids short; a user name may be longer.
inline constexpr size_t kEnvelopeMaxText = 255;

namespace envelope_detail {
inline void putInt(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
inline uint64_t getInt(const unsigned char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value |= static_cast<uint64_t>(p[i]) << (8 * i);
  return value;
}
/// How much of `text` a text field keeps: at most kEnvelopeMaxText bytes, cut before a UTF-8
/// continuation byte so that a user name stays valid UTF-8 (it ends up in JSON).
inline size_t keptLength(const std::string& text) {
  size_t n = text.size() < kEnvelopeMaxText ? text.size() : kEnvelopeMaxText;
  while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return n;
}
inline void putText(std::string& out, const std::string& text) {
  const size_t n = keptLength(text);
  out.push_back(static_cast<char>(n));
  out.append(text, 0, n);
}
inline bool getText(std::string_view bytes, size_t& at, std::string& text) {
  if (at >= bytes.size()) return false;
  const size_t n = static_cast<unsigned char>(bytes[at]);
  if (bytes.size() - at - 1 < n) return false;
  text.assign(bytes.substr(at + 1, n));
  at += 1 + n;
  return true;
}
}  // namespace envelope_detail

/// Encodes msg (minus its subject).
inline std::string encodeEnvelope(const BusMessage& msg) {
  using namespace envelope_detail;
  std::string out;
  out.reserve(kEnvelopeFixedBytes + 4 + msg.origin.size() + msg.epoch.size() +
              msg.senderClient.size() + msg.senderUser.size() + msg.payload.size());
  out.push_back(static_cast<char>(kEnvelopeVersion));
  putInt(out, msg.flags, 4);
  putInt(out, static_cast<uint64_t>(msg.originTimeNs), 8);
  out.push_back(static_cast<char>(msg.kind));
  putInt(out, msg.offset, 8);
  putText(out, msg.origin);
  putText(out, msg.epoch);
  putText(out, msg.senderClient);
  putText(out, msg.senderUser);
  out.append(msg.payload);
  return out;
}

/// Decodes bytes from the backend. Returns nullopt for anything malformed (short, unknown
/// version or kind, a text field running past the end): such input comes from the network and
/// is dropped.
inline std::optional<BusMessage> decodeEnvelope(std::string_view bytes, std::string_view subject) {
  using namespace envelope_detail;
  if (bytes.size() < kEnvelopeFixedBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (p[0] != kEnvelopeVersion) return std::nullopt;
  if (p[13] > static_cast<uint8_t>(MessageKind::kLeave)) return std::nullopt;
  BusMessage msg;
  msg.flags = static_cast<uint32_t>(getInt(p + 1, 4));
  msg.originTimeNs = static_cast<int64_t>(getInt(p + 5, 8));
  msg.kind = static_cast<MessageKind>(p[13]);
  msg.offset = getInt(p + 14, 8);
  size_t at = kEnvelopeFixedBytes;
  if (!getText(bytes, at, msg.origin) || !getText(bytes, at, msg.epoch) ||
      !getText(bytes, at, msg.senderClient) || !getText(bytes, at, msg.senderUser)) {
    return std::nullopt;
  }
  msg.payload.assign(bytes.substr(at));
  msg.subject.assign(subject);
  return msg;
}

/// The wire form of a presence entry: four fields (client, user, info, node), each a 4-byte
/// length and its bytes. No size limit of its own: the host bounds users and info.
inline std::string encodePresenceMember(const PresenceMember& member) {
  std::string out;
  for (const std::string* field : {&member.client, &member.user, &member.info, &member.node}) {
    envelope_detail::putInt(out, field->size(), 4);
    out.append(*field);
  }
  return out;
}

/// nullopt unless `bytes` is exactly four such fields.
inline std::optional<PresenceMember> decodePresenceMember(std::string_view bytes) {
  PresenceMember member;
  size_t at = 0;
  for (std::string* field : {&member.client, &member.user, &member.info, &member.node}) {
    if (bytes.size() - at < 4) return std::nullopt;
    const uint64_t n =
        envelope_detail::getInt(reinterpret_cast<const unsigned char*>(bytes.data() + at), 4);
    at += 4;
    if (bytes.size() - at < n) return std::nullopt;
    field->assign(bytes.substr(at, n));
    at += n;
  }
  if (at != bytes.size()) return std::nullopt;
  return member;
}

}  // namespace heimdallr::bus
