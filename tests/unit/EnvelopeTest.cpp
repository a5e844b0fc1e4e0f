#include <gtest/gtest.h>

#include "heimdallr/bus/Envelope.h"

namespace heimdallr::bus {

TEST(Envelope, round_trips_every_field_but_the_subject_which_the_channel_carries) {
  BusMessage msg;
  msg.subject = "ignored";
  msg.origin = "node-7";
  msg.payload = std::string("bin\0ary\xff", 8);
  msg.flags = BusMessage::kFlagBinary | 0x80000000u;
  msg.originTimeNs = -1234567890123456789;
  msg.kind = MessageKind::kLeave;
  msg.offset = 0xfedcba9876543210ull;
  msg.epoch = "e-1";
  msg.senderClient = "node-7.12";
  msg.senderUser = "alice";
  const auto decoded = decodeEnvelope(encodeEnvelope(msg), "room.42");
  ASSERT_TRUE(decoded);
  EXPECT_EQ("room.42", decoded->subject);
  EXPECT_EQ(msg.origin, decoded->origin);
  EXPECT_EQ(msg.payload, decoded->payload);
  EXPECT_EQ(msg.flags, decoded->flags);
  EXPECT_EQ(msg.originTimeNs, decoded->originTimeNs);
  EXPECT_EQ(msg.kind, decoded->kind);
  EXPECT_EQ(msg.offset, decoded->offset);
  EXPECT_EQ(msg.epoch, decoded->epoch);
  EXPECT_EQ(msg.senderClient, decoded->senderClient);
  EXPECT_EQ(msg.senderUser, decoded->senderUser);
}

TEST(Envelope, long_text_fields_are_cut_on_a_utf8_boundary) {
  BusMessage msg;
  msg.senderUser = std::string(254, 'a') + "\xc3\xa9";  // 256 bytes, an e-acute at the end
  msg.epoch = std::string(300, 'e');
  const auto decoded = decodeEnvelope(encodeEnvelope(msg), "s");
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->senderUser, std::string(254, 'a'));  // not a lone 0xc3
  EXPECT_EQ(decoded->epoch, std::string(255, 'e'));
}

TEST(Envelope, empty_payload_and_origin_are_fine) {
  const auto decoded = decodeEnvelope(encodeEnvelope(BusMessage{}), "s");
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->payload.empty());
  EXPECT_TRUE(decoded->origin.empty());
}

TEST(Envelope, rejects_short_input_unknown_versions_and_kinds_and_overlong_texts) {
  BusMessage msg;
  msg.origin = "abc";
  msg.senderUser = "u";
  std::string bytes = encodeEnvelope(msg);
  for (size_t cut = 0; cut < kEnvelopeFixedBytes + 4 + 3 + 1; ++cut) {
    EXPECT_FALSE(decodeEnvelope(bytes.substr(0, cut), "s")) << cut;
  }
  EXPECT_TRUE(decodeEnvelope(bytes, "s"));
  std::string wrongVersion = bytes;
  wrongVersion[0] = 1;
  EXPECT_FALSE(decodeEnvelope(wrongVersion, "s"));
  std::string wrongKind = bytes;
  wrongKind[13] = 3;
  EXPECT_FALSE(decodeEnvelope(wrongKind, "s"));
  std::string overlong = bytes;
  overlong[kEnvelopeFixedBytes] = static_cast<char>(200);
  EXPECT_FALSE(decodeEnvelope(overlong, "s"));
}

}  // namespace heimdallr::bus
