#include "ws/Utf8Validator.h"

#include <array>
#include <cstring>

namespace heimdallr::ws {
namespace {

// Bytes fall into classes by what they may be in a well-formed sequence (RFC 3629 §4). The second
// byte of a sequence needs extra restrictions after E0, ED, F0 and F4; those restrictions are what
// rejects overlongs, surrogates and code points above U+10FFFF.
enum ByteClass : uint8_t {
  kAscii,   // 00..7F
  kCont80,  // 80..8F
  kCont90,  // 90..9F
  kContA0,  // A0..BF
  kNever,   // C0, C1 (overlong 2-byte leads), F5..FF (beyond U+10FFFF)
  kLead2,   // C2..DF
  kLeadE0,  // E0: next byte A0..BF (else overlong)
  kLead3,   // E1..EC, EE, EF
  kLeadED,  // ED: next byte 80..9F (else surrogate)
  kLeadF0,  // F0: next byte 90..BF (else overlong)
  kLead4,   // F1..F3
  kLeadF4,  // F4: next byte 80..8F (else > U+10FFFF)
  kClassCount
};

enum State : uint8_t {
  kAccept = 0,  // between sequences
  kReject = 1,  // sticky failure
  kNeed1,       // one more continuation byte (any 80..BF)
  kNeed2,       // two more continuation bytes
  kNeed3,       // three more continuation bytes
  kAfterE0,     // A0..BF, then kNeed1
  kAfterED,     // 80..9F, then kNeed1
  kAfterF0,     // 90..BF, then kNeed2
  kAfterF4,     // 80..8F, then kNeed2
  kStateCount
};

constexpr ByteClass classify(unsigned byte) {
  if (byte < 0x80) return kAscii;
  if (byte < 0x90) return kCont80;
  if (byte < 0xA0) return kCont90;
  if (byte < 0xC0) return kContA0;
  if (byte < 0xC2) return kNever;
  if (byte < 0xE0) return kLead2;
  if (byte == 0xE0) return kLeadE0;
  if (byte == 0xED) return kLeadED;
  if (byte < 0xF0) return kLead3;
  if (byte == 0xF0) return kLeadF0;
  if (byte < 0xF4) return kLead4;
  if (byte == 0xF4) return kLeadF4;
  return kNever;
}

constexpr State step(State state, ByteClass cls) {
  const bool anyCont = cls == kCont80 || cls == kCont90 || cls == kContA0;
  switch (state) {
    case kAccept:
      switch (cls) {
        case kAscii:
          return kAccept;
        case kLead2:
          return kNeed1;
        case kLeadE0:
          return kAfterE0;
        case kLead3:
          return kNeed2;
        case kLeadED:
          return kAfterED;
        case kLeadF0:
          return kAfterF0;
        case kLead4:
          return kNeed3;
        case kLeadF4:
          return kAfterF4;
        default:
          return kReject;
      }
    case kNeed1:
      return anyCont ? kAccept : kReject;
    case kNeed2:
      return anyCont ? kNeed1 : kReject;
    case kNeed3:
      return anyCont ? kNeed2 : kReject;
    case kAfterE0:
      return cls == kContA0 ? kNeed1 : kReject;
    case kAfterED:
      return (cls == kCont80 || cls == kCont90) ? kNeed1 : kReject;
    case kAfterF0:
      return (cls == kCont90 || cls == kContA0) ? kNeed2 : kReject;
    case kAfterF4:
      return cls == kCont80 ? kNeed2 : kReject;
    default:
      return kReject;
  }
}

// Next state indexed directly by [state][byte]: one lookup per non-ASCII byte, 2.3 KiB, built at
// compile time from the readable rules above.
using TransitionTable = std::array<std::array<uint8_t, 256>, kStateCount>;

constexpr TransitionTable buildTransitions() {
  TransitionTable table{};
  for (unsigned s = 0; s < kStateCount; ++s) {
    for (unsigned b = 0; b < 256; ++b) {
      table[s][b] = step(static_cast<State>(s), classify(b));
    }
  }
  return table;
}

constexpr TransitionTable kTransitions = buildTransitions();

constexpr uint64_t kHighBits = 0x8080808080808080ULL;

}  // namespace

bool Utf8Validator::feed(const char* data, size_t len) {
  static_assert(kAccept == kAcceptState);
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  const unsigned char* const end = p + len;
  uint8_t state = state_;
  if (state == kReject) return false;
  while (p != end) {
    if (state == kAccept) {
      // Chat text is mostly ASCII: skip 8 bytes per step while no byte has its high bit set.
      while (end - p >= 8) {
        uint64_t word;
        std::memcpy(&word, p, sizeof word);
        if (word & kHighBits) break;
        p += 8;
      }
      while (p != end && *p < 0x80) ++p;
      if (p == end) break;
    }
    state = kTransitions[state][*p++];
    if (state == kReject) break;
  }
  state_ = state;
  return state != kReject;
}

bool Utf8Validator::isValid(std::string_view text) {
  Utf8Validator validator;
  return validator.feed(text.data(), text.size()) && validator.complete();
}

}  // namespace heimdallr::ws
