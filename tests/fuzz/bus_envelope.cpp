// libFuzzer target: the bus envelope (include/heimdallr/bus/Envelope.h) on arbitrary bytes.
//
// 1. decodeEnvelope on the raw input must agree with the layout written in Envelope.h (accept
//    exactly: at least 22 bytes, version 2, a known kind, four text fields within the input) and
//    read the same fields a byte-by-byte reading of that layout gives.
// 2. Whatever decodes re-encodes to the very same bytes, which decode to the same fields.
// 3. A message built from the input's bytes (any flags, time, kind, offset, texts and payload)
//    survives encode/decode, its texts cut to 255 bytes or just before, on a UTF-8 boundary.
// 4. decodePresenceMember (a presence entry as Redis hands it back) accepts exactly four
//    length-prefixed fields filling the input, and what it accepts re-encodes to the same bytes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "heimdallr/bus/Envelope.h"

namespace {

using heimdallr::bus::BusMessage;

constexpr std::string_view kSubject = "room.fuzz";

bool sameFields(const BusMessage& a, const BusMessage& b) {
  return a.subject == b.subject && a.origin == b.origin && a.payload == b.payload &&
         a.flags == b.flags && a.originTimeNs == b.originTimeNs && a.kind == b.kind &&
         a.offset == b.offset && a.epoch == b.epoch && a.senderClient == b.senderClient &&
         a.senderUser == b.senderUser;
}

uint64_t littleEndian(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // 1 and 2: the raw input as an envelope from the backend.
  const std::optional<BusMessage> decoded = heimdallr::bus::decodeEnvelope(bytes, kSubject);
  // The reference reading: walk the four length-prefixed texts after the fixed header.
  size_t at = 22;
  std::string texts[4];
  bool textsFit = size >= 22;
  for (auto& text : texts) {
    if (!textsFit || at >= size || size - at - 1 < data[at]) {
      textsFit = false;
      break;
    }
    text.assign(bytes.substr(at + 1, data[at]));
    at += 1 + data[at];
  }
  const bool wellFormed = textsFit && data[0] == 2 && data[13] <= 2;
  FUZZ_CHECK(decoded.has_value() == wellFormed);
  if (decoded) {
    FUZZ_CHECK(decoded->subject == kSubject);
    FUZZ_CHECK(decoded->flags == littleEndian(data + 1, 4));
    FUZZ_CHECK(static_cast<uint64_t>(decoded->originTimeNs) == littleEndian(data + 5, 8));
    FUZZ_CHECK(static_cast<uint8_t>(decoded->kind) == data[13]);
    FUZZ_CHECK(decoded->offset == littleEndian(data + 14, 8));
    FUZZ_CHECK(decoded->origin == texts[0] && decoded->epoch == texts[1] &&
               decoded->senderClient == texts[2] && decoded->senderUser == texts[3]);
    FUZZ_CHECK(decoded->payload == bytes.substr(at));

    const std::string reencoded = heimdallr::bus::encodeEnvelope(*decoded);
    FUZZ_CHECK(reencoded == bytes);
    const std::optional<BusMessage> again = heimdallr::bus::decodeEnvelope(reencoded, kSubject);
    FUZZ_CHECK(again && sameFields(*again, *decoded));
  }

  // 3: the input as the fields of a message to publish.
  FuzzedDataProvider provider(data, size);
  BusMessage msg;
  msg.subject = std::string(kSubject);
  msg.flags = provider.ConsumeIntegral<uint32_t>();
  msg.originTimeNs = provider.ConsumeIntegral<int64_t>();
  msg.kind = static_cast<heimdallr::bus::MessageKind>(provider.ConsumeIntegralInRange(0, 2));
  msg.offset = provider.ConsumeIntegral<uint64_t>();
  msg.origin = provider.ConsumeRandomLengthString(300);
  msg.epoch = provider.ConsumeRandomLengthString(300);
  msg.senderClient = provider.ConsumeRandomLengthString(300);
  msg.senderUser = provider.ConsumeRandomLengthString(300);
  msg.payload = provider.ConsumeRemainingBytesAsString();
  const std::string encoded = heimdallr::bus::encodeEnvelope(msg);
  // Cut to 255 bytes, then back to before a UTF-8 continuation byte (written out, not the
  // header's helper).
  const auto cut = [](std::string& text) {
    if (text.size() <= 255) return;
    size_t n = 255;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    text.resize(n);
  };
  BusMessage expected = msg;
  cut(expected.origin);
  cut(expected.epoch);
  cut(expected.senderClient);
  cut(expected.senderUser);
  FUZZ_CHECK(encoded.size() == 26 + expected.origin.size() + expected.epoch.size() +
                                   expected.senderClient.size() + expected.senderUser.size() +
                                   msg.payload.size());
  const std::optional<BusMessage> roundTrip = heimdallr::bus::decodeEnvelope(encoded, kSubject);
  FUZZ_CHECK(roundTrip.has_value());
  FUZZ_CHECK(sameFields(*roundTrip, expected));

  // 4: the raw input as a presence entry.
  size_t walk = 0;
  bool fourFields = true;
  for (int field = 0; field < 4 && fourFields; ++field) {
    if (size - walk < 4) {
      fourFields = false;
      break;
    }
    const uint64_t n = littleEndian(data + walk, 4);
    walk += 4;
    if (size - walk < n) {
      fourFields = false;
      break;
    }
    walk += n;
  }
  const auto member = heimdallr::bus::decodePresenceMember(bytes);
  FUZZ_CHECK(member.has_value() == (fourFields && walk == size));
  if (member) FUZZ_CHECK(heimdallr::bus::encodePresenceMember(*member) == bytes);
  return 0;
}
