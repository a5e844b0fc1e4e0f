#include <gtest/gtest.h>

#include <string>

#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::ws {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

std::string patterned(size_t len) {
  std::string out(len, '\0');
  for (size_t i = 0; i < len; ++i) out[i] = static_cast<char>(i * 7 + 3);
  return out;
}

TEST(FrameEncoder, encodes_rfc_single_frame_unmasked_text) {
  EXPECT_EQ(encodeFrame(Opcode::kText, "Hello"), bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(FrameEncoder, encodes_rfc_single_frame_masked_text) {
  EXPECT_EQ(encodeMaskedFrame(Opcode::kText, "Hello", 0x37fa213d),
            bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST(FrameEncoder, encodes_rfc_fragmented_unmasked_text) {
  EXPECT_EQ(encodeFrame(Opcode::kText, "Hel", false), bytes({0x01, 0x03, 0x48, 0x65, 0x6c}));
  EXPECT_EQ(encodeFrame(Opcode::kContinuation, "lo"), bytes({0x80, 0x02, 0x6c, 0x6f}));
}

TEST(FrameEncoder, encodes_rfc_ping_and_masked_pong) {
  EXPECT_EQ(encodeFrame(Opcode::kPing, "Hello"), bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  EXPECT_EQ(encodeMaskedFrame(Opcode::kPong, "Hello", 0x37fa213d),
            bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST(FrameEncoder, encodes_rfc_256_byte_binary_with_16_bit_length) {
  const std::string payload = patterned(256);
  const std::string frame = encodeFrame(Opcode::kBinary, payload);
  EXPECT_EQ(frame.substr(0, 4), bytes({0x82, 0x7E, 0x01, 0x00}));
  EXPECT_EQ(frame.substr(4), payload);
}

TEST(FrameEncoder, encodes_rfc_64_kib_binary_with_64_bit_length) {
  const std::string payload = patterned(65536);
  const std::string frame = encodeFrame(Opcode::kBinary, payload);
  EXPECT_EQ(frame.substr(0, 10), bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
  EXPECT_EQ(frame.substr(10), payload);
}

TEST(FrameEncoder, uses_the_shortest_length_encoding_at_each_boundary) {
  EXPECT_EQ(encodeFrame(Opcode::kBinary, patterned(125))[1], 125);
  EXPECT_EQ(encodeFrame(Opcode::kBinary, patterned(126)).substr(1, 3), bytes({0x7E, 0, 126}));
  EXPECT_EQ(encodeFrame(Opcode::kBinary, patterned(65535)).substr(1, 3), bytes({0x7E, 0xFF, 0xFF}));
  EXPECT_EQ(encodeFrame(Opcode::kBinary, patterned(65536))[1], 0x7F);
}

TEST(FrameEncoder, header_size_matches_encoded_frames) {
  for (size_t len : {0, 1, 125, 126, 127, 65535, 65536, 70000}) {
    const std::string payload = patterned(len);
    EXPECT_EQ(encodeFrame(Opcode::kBinary, payload).size(), frameHeaderSize(len, false) + len);
    EXPECT_EQ(encodeMaskedFrame(Opcode::kBinary, payload, 1).size(),
              frameHeaderSize(len, true) + len);
  }
  EXPECT_EQ(frameHeaderSize(0, false), 2u);
  EXPECT_EQ(frameHeaderSize(126, false), 4u);
  EXPECT_EQ(frameHeaderSize(65536, false), 10u);
  EXPECT_EQ(frameHeaderSize(65536, true), 14u);
}

TEST(FrameEncoder, encodes_empty_frames) {
  EXPECT_EQ(encodeFrame(Opcode::kText, ""), bytes({0x81, 0x00}));
  EXPECT_EQ(encodeMaskedFrame(Opcode::kPing, "", 0x01020304),
            bytes({0x89, 0x80, 0x01, 0x02, 0x03, 0x04}));
}

TEST(FrameEncoder, encodes_close_with_code_and_reason) {
  EXPECT_EQ(encodeClose(close_code::kNormal, "bye"),
            bytes({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));
  EXPECT_EQ(encodeClose(close_code::kSlowConsumer, ""), bytes({0x88, 0x02, 0x0F, 0xA8}));
}

TEST(FrameEncoder, encodes_no_status_close_with_an_empty_payload) {
  EXPECT_EQ(encodeClose(close_code::kNoStatus, "ignored"), bytes({0x88, 0x00}));
  EXPECT_EQ(encodeClose(close_code::kAbnormal, ""), bytes({0x88, 0x00}));
}

TEST(FrameEncoder, truncates_long_close_reason_to_fit_a_control_frame) {
  const std::string frame = encodeClose(close_code::kPolicyViolation, std::string(300, 'r'));
  EXPECT_EQ(static_cast<uint8_t>(frame[1]), kMaxControlPayload);
  EXPECT_EQ(frame.size(), 2 + kMaxControlPayload);
}

TEST(FrameEncoder, truncates_close_reason_at_a_utf8_character_boundary) {
  // 122 ASCII bytes then a 2-byte character straddling the 123-byte limit.
  const std::string reason = std::string(122, 'r') + "\xC3\xA9" + "tail";
  const std::string frame = encodeClose(close_code::kNormal, reason);
  EXPECT_EQ(frame.size(), 2u + 2u + 122u);
  EXPECT_EQ(frame.substr(4), std::string(122, 'r'));
}

TEST(FrameEncoder, sets_fin_only_when_asked) {
  EXPECT_EQ(static_cast<uint8_t>(encodeFrame(Opcode::kBinary, "x", false)[0]), 0x02);
  EXPECT_EQ(static_cast<uint8_t>(encodeMaskedFrame(Opcode::kContinuation, "x", 9, false)[0]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(encodeMaskedFrame(Opcode::kContinuation, "x", 9, true)[0]), 0x80);
}

TEST(FrameEncoder, masking_is_its_own_inverse_at_every_offset_and_length) {
  const std::string original = patterned(67);
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t len = 0; len <= original.size(); ++len) {
      std::string data = original.substr(0, len);
      applyMask(data.data(), data.size(), 0xA1B2C3D4, offset);
      for (size_t i = 0; i < len; ++i) {
        const uint8_t key = static_cast<uint8_t>(0xA1B2C3D4u >> (24 - 8 * ((offset + i) % 4)));
        ASSERT_EQ(static_cast<uint8_t>(data[i]), static_cast<uint8_t>(original[i] ^ key))
            << offset << " " << len << " " << i;
      }
      applyMask(data.data(), data.size(), 0xA1B2C3D4, offset);
      ASSERT_EQ(data, original.substr(0, len));
    }
  }
}

TEST(FrameEncoder, masking_in_pieces_equals_masking_at_once) {
  const std::string original = patterned(100);
  std::string whole = original;
  applyMask(whole.data(), whole.size(), 0x11223344);
  for (size_t cut = 0; cut <= original.size(); ++cut) {
    std::string pieces = original;
    applyMask(pieces.data(), cut, 0x11223344, 0);
    applyMask(pieces.data() + cut, pieces.size() - cut, 0x11223344, cut);
    ASSERT_EQ(pieces, whole) << cut;
  }
}

}  // namespace
}  // namespace heimdallr::ws
