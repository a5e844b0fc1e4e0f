// libFuzzer target: ws::FrameDecoder on arbitrary bytes, in both roles.
//
// Input layout (so that seeds are frame streams behind a small fixed header):
//   byte 0      bit 0: role (0 server, 1 client); bits 1-2: message limit class (see limitOf)
//   byte 1      limit parameter
//   bytes 2-5   seed of the chunking (little-endian): how the stream is cut into feed() calls
//   the rest    the byte stream a peer sends
//
// Three decodes are compared event by event, including the close code of the first error:
//   1. the decoder fed the whole stream in one call,
//   2. the decoder fed it in chunks chosen by the seed (down to one byte at a time),
//   3. a plain reference decoder below, written from RFC 6455 and Unicode Table 3-7 and sharing
//      no code with the decoder (not its UTF-8 validator, not its unmasking).
// Every callback also checks the decoder's contract: text is valid UTF-8, messages fit the limit,
// control payloads fit 125 bytes, close codes are ones a peer may send, nothing after a close or an
// error, and the buffered bytes stay bounded.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "ws/CloseCode.h"
#include "ws/FrameDecoder.h"

namespace {

using heimdallr::ws::FrameDecoder;
using heimdallr::ws::Opcode;
using heimdallr::ws::Role;

constexpr size_t kParamBytes = 6;
constexpr size_t kMaxControl = 125;

struct Event {
  enum Kind { kMessage, kPing, kPong, kClose } kind;
  Opcode op = Opcode::kContinuation;
  std::string payload;
  uint16_t code = 0;
  bool operator==(const Event&) const = default;
};

struct Outcome {
  std::vector<Event> events;
  uint16_t errorCode = 0;  // close code of the first error, 0 if none
  std::string errorReason;
};

// Independent UTF-8 check, straight from Unicode Table 3-7 (well-formed byte sequences). With
// `allowTruncated`, a sequence cut short by the end of `s` is fine if its bytes so far are allowed.
bool referenceUtf8(std::string_view s, bool allowTruncated) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;  // range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b == 0xE0) {
      need = 2, lo = 0xA0;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      need = 2;
    } else if (b == 0xED) {
      need = 2, hi = 0x9F;
    } else if (b == 0xF0) {
      need = 3, lo = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
      need = 3;
    } else if (b == 0xF4) {
      need = 3, hi = 0x8F;
    } else {
      return false;
    }
    for (size_t k = 1; k <= need; ++k) {
      if (i + k >= s.size()) return allowTruncated;
      const auto c = static_cast<uint8_t>(s[i + k]);
      if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return false;
    }
    i += need + 1;
  }
  return true;
}

size_t limitOf(uint8_t flags, uint8_t param) {
  switch ((flags >> 1) & 3) {
    case 0:
      return 65536;  // the default limits.max_message_bytes
    case 1:
      return size_t{param} + 1;  // tiny limits reach the 1009 paths with short inputs
    case 2:
      return kMaxControl;
    default:
      return size_t{param} * 4096;  // 0 .. ~1 MiB, including 0
  }
}

// Records events and checks the per-callback contract.
class Checker : public FrameDecoder::Handler {
 public:
  explicit Checker(size_t limit) : limit_(limit) {}

  void onMessage(Opcode op, std::string&& payload) override {
    FUZZ_CHECK(!closed_);
    FUZZ_CHECK(op == Opcode::kText || op == Opcode::kBinary);
    FUZZ_CHECK(payload.size() <= limit_);
    if (op == Opcode::kText) FUZZ_CHECK(referenceUtf8(payload, false));
    events.push_back({Event::kMessage, op, std::move(payload)});
  }
  void onPing(std::string_view payload) override {
    FUZZ_CHECK(!closed_);
    FUZZ_CHECK(payload.size() <= kMaxControl);
    events.push_back({Event::kPing, {}, std::string(payload)});
  }
  void onPong(std::string_view payload) override {
    FUZZ_CHECK(!closed_);
    FUZZ_CHECK(payload.size() <= kMaxControl);
    events.push_back({Event::kPong, {}, std::string(payload)});
  }
  void onClose(uint16_t code, std::string_view reason) override {
    FUZZ_CHECK(!closed_);
    FUZZ_CHECK(code == heimdallr::ws::close_code::kNoStatus ||
               heimdallr::ws::close_code::isValidReceivedCloseCode(code));
    FUZZ_CHECK(reason.size() <= kMaxControl - 2);
    FUZZ_CHECK(code != heimdallr::ws::close_code::kNoStatus || reason.empty());
    FUZZ_CHECK(referenceUtf8(reason, false));
    closed_ = true;
    events.push_back({Event::kClose, {}, std::string(reason), code});
  }

  std::vector<Event> events;

 private:
  size_t limit_;
  bool closed_ = false;
};

// Feeds [data, data + len) in chunks; `nextChunk` returns the next chunk length (>= 1).
template <typename NextChunk>
Outcome decode(Role role, size_t limit, const char* data, size_t len, NextChunk nextChunk) {
  FrameDecoder decoder(role, limit);
  Checker checker(limit);
  Outcome out;
  size_t pos = 0;
  while (pos < len) {
    const size_t take = std::min(nextChunk(), len - pos);
    const FrameDecoder::Error error = decoder.feed(data + pos, take, checker);
    pos += take;
    // A partial data message plus a partial control frame, never more.
    FUZZ_CHECK(decoder.bufferedBytes() <= limit + kMaxControl);
    if (error) {
      FUZZ_CHECK(error.closeCode == heimdallr::ws::close_code::kProtocolError ||
                 error.closeCode == heimdallr::ws::close_code::kInvalidPayload ||
                 error.closeCode == heimdallr::ws::close_code::kMessageTooBig);
      FUZZ_CHECK(!error.reason.empty());
      FUZZ_CHECK(decoder.bufferedBytes() == 0);
      out.errorCode = error.closeCode;
      out.errorReason = error.reason;
      // A failed decoder stays failed: same error, no events, whatever comes next.
      const size_t eventsAtError = checker.events.size();
      const FrameDecoder::Error again = decoder.feed(data + pos, len - pos, checker);
      FUZZ_CHECK(again.closeCode == error.closeCode && again.reason == error.reason);
      FUZZ_CHECK(checker.events.size() == eventsAtError);
      break;
    }
  }
  out.events = std::move(checker.events);
  return out;
}

// The reference: one pass over the whole stream, frame by frame, applying the checks in the order
// the decoder documents (first two header bytes, then the full header, then the payload). A frame
// cut short by the end of the input yields no event but may still fail on what has arrived.
Outcome referenceDecode(Role role, size_t limit, std::string_view in) {
  using namespace heimdallr::ws::close_code;
  Outcome out;
  bool inMessage = false;
  Opcode messageOp = Opcode::kText;
  std::string message;
  size_t pos = 0;
  auto fail = [&out](uint16_t code) {
    out.errorCode = code;
    return out;
  };
  while (pos < in.size()) {
    if (in.size() - pos < 2) return out;
    const auto b0 = static_cast<uint8_t>(in[pos]);
    const auto b1 = static_cast<uint8_t>(in[pos + 1]);
    const bool fin = b0 & 0x80;
    const uint8_t op = b0 & 0x0F;
    const bool masked = b1 & 0x80;
    const uint8_t len7 = b1 & 0x7F;
    if (b0 & 0x70) return fail(kProtocolError);
    if (!(op <= 2 || (op >= 8 && op <= 10))) return fail(kProtocolError);
    if (masked != (role == Role::kServer)) return fail(kProtocolError);
    const bool control = op >= 8;
    if (control && (!fin || len7 > kMaxControl)) return fail(kProtocolError);
    if (!control && op == 0 && !inMessage) return fail(kProtocolError);
    if (!control && op != 0 && inMessage) return fail(kProtocolError);

    const size_t lengthBytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    const size_t headerBytes = 2 + lengthBytes + (masked ? 4 : 0);
    if (in.size() - pos < headerBytes) return out;
    uint64_t length = len7;
    if (lengthBytes) {
      length = 0;
      for (size_t i = 0; i < lengthBytes; ++i) {
        length = (length << 8) | static_cast<uint8_t>(in[pos + 2 + i]);
      }
    }
    if (lengthBytes == 8 && (length >> 63)) return fail(kProtocolError);
    if (!control && length > limit - message.size()) return fail(kMessageTooBig);
    uint8_t mask[4] = {};
    if (masked) std::memcpy(mask, in.data() + pos + 2 + lengthBytes, 4);
    pos += headerBytes;

    const size_t available = static_cast<size_t>(std::min<uint64_t>(length, in.size() - pos));
    std::string payload(in.substr(pos, available));
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = char(payload[i] ^ mask[i % 4]);
    pos += available;
    const bool complete = available == length;

    if (!control) {
      if (op != 0) {
        inMessage = true;
        messageOp = static_cast<Opcode>(op);
      }
      message += payload;
      if (messageOp == Opcode::kText && !referenceUtf8(message, true)) {
        return fail(kInvalidPayload);
      }
      if (!complete) return out;
      if (fin) {
        if (messageOp == Opcode::kText && !referenceUtf8(message, false)) {
          return fail(kInvalidPayload);
        }
        out.events.push_back({Event::kMessage, messageOp, std::move(message)});
        message.clear();
        inMessage = false;
      }
      continue;
    }
    if (!complete) return out;
    if (op == 9) {
      out.events.push_back({Event::kPing, {}, std::move(payload)});
    } else if (op == 10) {
      out.events.push_back({Event::kPong, {}, std::move(payload)});
    } else {
      if (payload.size() == 1) return fail(kProtocolError);
      uint16_t code = kNoStatus;
      std::string reason;
      if (payload.size() >= 2) {
        code = static_cast<uint16_t>((uint8_t(payload[0]) << 8) | uint8_t(payload[1]));
        const bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                           (code >= 3000 && code <= 4999);
        if (!valid) return fail(kProtocolError);
        reason = payload.substr(2);
        if (!referenceUtf8(reason, false)) return fail(kInvalidPayload);
      }
      out.events.push_back({Event::kClose, {}, std::move(reason), code});
      return out;  // nothing after a close frame is read
    }
  }
  return out;
}

// splitmix64: a tiny PRNG so that the chunking is a pure function of the seed.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

bool sameEvents(const Outcome& a, const Outcome& b) {
  return a.events == b.events && a.errorCode == b.errorCode;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kParamBytes) return 0;
  const uint8_t flags = data[0];
  const Role role = (flags & 1) ? Role::kClient : Role::kServer;
  const size_t limit = limitOf(flags, data[1]);
  uint32_t seed = 0;
  std::memcpy(&seed, data + 2, 4);
  const auto* stream = reinterpret_cast<const char*>(data + kParamBytes);
  const size_t len = size - kParamBytes;

  const Outcome whole = decode(role, limit, stream, len, [len] { return len; });

  // The seed's low two bits pick the chunk sizes: single bytes, 1-4, 1-64, or 1-len.
  SplitMix rng{seed};
  const uint32_t mode = seed & 3;
  const Outcome chunked = decode(role, limit, stream, len, [&]() -> size_t {
    switch (mode) {
      case 0:
        return 1;
      case 1:
        return 1 + rng.next() % 4;
      case 2:
        return 1 + rng.next() % 64;
      default:
        return 1 + rng.next() % (len ? len : 1);
    }
  });
  FUZZ_CHECK(whole.events == chunked.events);
  FUZZ_CHECK(whole.errorCode == chunked.errorCode);
  FUZZ_CHECK(whole.errorReason == chunked.errorReason);

  const Outcome reference = referenceDecode(role, limit, std::string_view(stream, len));
  FUZZ_CHECK(sameEvents(whole, reference));
  return 0;
}
