#include "ws/FrameEncoder.h"

#include <cstring>

#include "ws/CloseCode.h"

namespace heimdallr::ws {
namespace {

constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kMaskBit = 0x80;
constexpr size_t kMax7BitLength = 125;
constexpr size_t kMax16BitLength = 0xFFFF;
constexpr size_t kMaxCloseReason = kMaxControlPayload - 2;

// Appends the header to `out`, which the caller has already reserved for header and payload.
void appendHeader(std::string& out, Opcode op, size_t payloadLen, bool fin, bool masked,
                  uint32_t maskKey) {
  out.push_back(static_cast<char>((fin ? kFinBit : 0) | static_cast<uint8_t>(op)));
  const uint8_t maskBit = masked ? kMaskBit : 0;
  if (payloadLen <= kMax7BitLength) {
    out.push_back(static_cast<char>(maskBit | payloadLen));
  } else if (payloadLen <= kMax16BitLength) {
    out.push_back(static_cast<char>(maskBit | 126));
    out.push_back(static_cast<char>(payloadLen >> 8));
    out.push_back(static_cast<char>(payloadLen));
  } else {
    out.push_back(static_cast<char>(maskBit | 127));
    const uint64_t len = payloadLen;
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(len >> shift));
  }
  if (masked) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(maskKey >> shift));
  }
}

// Longest prefix of `reason` that fits a close frame without splitting a UTF-8 character.
std::string_view fitCloseReason(std::string_view reason) {
  if (reason.size() <= kMaxCloseReason) return reason;
  size_t len = kMaxCloseReason;
  // Byte `len` is the first one dropped; if it continues a character, drop that character too.
  while (len > 0 && (static_cast<uint8_t>(reason[len]) & 0xC0) == 0x80) --len;
  return reason.substr(0, len);
}

}  // namespace

size_t frameHeaderSize(size_t payloadLen, bool masked) {
  size_t size = 2;
  if (payloadLen > kMax16BitLength) {
    size += 8;
  } else if (payloadLen > kMax7BitLength) {
    size += 2;
  }
  return masked ? size + 4 : size;
}

std::string encodeFrame(Opcode op, std::string_view payload, bool fin) {
  std::string out;
  out.reserve(frameHeaderSize(payload.size(), false) + payload.size());
  appendHeader(out, op, payload.size(), fin, false, 0);
  out.append(payload);
  return out;
}

std::string encodeClose(uint16_t code, std::string_view reason) {
  if (code == close_code::kNoStatus || code == close_code::kAbnormal) {
    return encodeFrame(Opcode::kClose, {});
  }
  reason = fitCloseReason(reason);
  const size_t payloadLen = 2 + reason.size();
  std::string out;
  out.reserve(frameHeaderSize(payloadLen, false) + payloadLen);
  appendHeader(out, Opcode::kClose, payloadLen, true, false, 0);
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code));
  out.append(reason);
  return out;
}

std::string encodeMaskedFrame(Opcode op, std::string_view payload, uint32_t maskKey, bool fin) {
  std::string out;
  out.reserve(frameHeaderSize(payload.size(), true) + payload.size());
  appendHeader(out, op, payload.size(), fin, true, maskKey);
  const size_t headerLen = out.size();
  out.append(payload);
  applyMask(out.data() + headerLen, payload.size(), maskKey);
  return out;
}

void applyMask(char* data, size_t len, uint32_t maskKey, size_t offset) {
  const uint8_t key[4] = {static_cast<uint8_t>(maskKey >> 24), static_cast<uint8_t>(maskKey >> 16),
                          static_cast<uint8_t>(maskKey >> 8), static_cast<uint8_t>(maskKey)};
  // Eight key bytes starting at the right phase; byte i of the payload uses rotated[i % 8].
  uint8_t rotated[8];
  for (size_t i = 0; i < 8; ++i) rotated[i] = key[(offset + i) & 3];
  uint64_t wordMask;
  std::memcpy(&wordMask, rotated, sizeof wordMask);

  size_t i = 0;
  // Four independent words per step: the compiler turns this into vector XORs.
  for (; i + 32 <= len; i += 32) {
    uint64_t words[4];
    std::memcpy(words, data + i, sizeof words);
    for (uint64_t& word : words) word ^= wordMask;
    std::memcpy(data + i, words, sizeof words);
  }
  for (; i + 8 <= len; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, sizeof word);
    word ^= wordMask;
    std::memcpy(data + i, &word, sizeof word);
  }
  for (; i < len; ++i) data[i] = static_cast<char>(data[i] ^ rotated[i & 7]);
}

}  // namespace heimdallr::ws
