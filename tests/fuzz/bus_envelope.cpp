// libFuzzer target: the bus envelope (include/heimdallr/bus/Envelope.h) on arbitrary bytes.
//
// 1. decodeEnvelope on the raw input must agree with the layout written in Envelope.h (accept
//    exactly: at least 14 bytes, version 1, origin within the input) and read the same fields a
//    byte-by-byte reading of that layout gives.
// 2. Whatever decodes re-encodes to the very same bytes, which decode to the same fields.
// 3. A message built from the input's bytes (any flags, time, origin and payload) survives
//    encode/decode, its origin cut to 255 bytes.
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
         a.flags == b.flags && a.originTimeNs == b.originTimeNs;
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
  const bool wellFormed = size >= 14 && data[0] == 1 && size >= 14 + size_t{data[13]};
  FUZZ_CHECK(decoded.has_value() == wellFormed);
  if (decoded) {
    FUZZ_CHECK(decoded->subject == kSubject);
    FUZZ_CHECK(decoded->flags == littleEndian(data + 1, 4));
    FUZZ_CHECK(static_cast<uint64_t>(decoded->originTimeNs) == littleEndian(data + 5, 8));
    FUZZ_CHECK(decoded->origin == bytes.substr(14, data[13]));
    FUZZ_CHECK(decoded->payload == bytes.substr(14 + data[13]));

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
  msg.origin = provider.ConsumeRandomLengthString(300);
  msg.payload = provider.ConsumeRemainingBytesAsString();
  const std::string encoded = heimdallr::bus::encodeEnvelope(msg);
  FUZZ_CHECK(encoded.size() == 14 + std::min<size_t>(msg.origin.size(), 255) + msg.payload.size());
  const std::optional<BusMessage> roundTrip = heimdallr::bus::decodeEnvelope(encoded, kSubject);
  FUZZ_CHECK(roundTrip.has_value());
  BusMessage expected = msg;
  if (expected.origin.size() > 255) expected.origin.resize(255);
  FUZZ_CHECK(sameFields(*roundTrip, expected));
  return 0;
}
