#include "Payload.h"

#include <algorithm>

namespace heimdallr::bench {
namespace {

constexpr std::string_view kMagic = "HB1 ";
constexpr size_t kTimeAt = 4, kTimeLen = 16;
constexpr size_t kPubAt = 21, kPubLen = 8;
constexpr size_t kSeqAt = 30, kSeqLen = 12;
constexpr size_t kStepAt = 43, kStepLen = 4;
constexpr char kHex[] = "0123456789abcdef";

void putHex(char* out, uint64_t value, size_t digits) {
  for (size_t i = digits; i-- > 0;) {
    out[i] = kHex[value & 0xF];
    value >>= 4;
  }
}

bool getHex(std::string_view in, size_t at, size_t digits, uint64_t& value) {
  value = 0;
  for (size_t i = at; i < at + digits; ++i) {
    const char c = in[i];
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else {
      return false;
    }
    value = (value << 4) | d;
  }
  return true;
}

}  // namespace

void encodePayload(const Payload& p, size_t size, std::string& out) {
  out.assign(std::max(size, kPayloadHeaderSize), 'x');
  char* d = out.data();
  std::copy(kMagic.begin(), kMagic.end(), d);
  putHex(d + kTimeAt, p.intendedNs, kTimeLen);
  d[kTimeAt + kTimeLen] = ' ';
  putHex(d + kPubAt, p.publisher, kPubLen);
  d[kPubAt + kPubLen] = ' ';
  putHex(d + kSeqAt, p.seq, kSeqLen);
  d[kSeqAt + kSeqLen] = ' ';
  putHex(d + kStepAt, p.step, kStepLen);
  d[kStepAt + kStepLen] = ' ';
}

std::optional<Payload> decodePayload(std::string_view data) {
  if (data.size() < kPayloadHeaderSize || data.substr(0, kMagic.size()) != kMagic) {
    return std::nullopt;
  }
  Payload p;
  uint64_t pub = 0, step = 0;
  if (!getHex(data, kTimeAt, kTimeLen, p.intendedNs) || !getHex(data, kPubAt, kPubLen, pub) ||
      !getHex(data, kSeqAt, kSeqLen, p.seq) || !getHex(data, kStepAt, kStepLen, step)) {
    return std::nullopt;
  }
  p.publisher = static_cast<uint32_t>(pub);
  p.step = static_cast<uint32_t>(step);
  return p;
}

}  // namespace heimdallr::bench
