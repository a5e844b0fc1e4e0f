#include <gtest/gtest.h>

#include "Payload.h"

using namespace heimdallr::bench;

TEST(Payload, round_trips_all_fields_at_the_requested_size) {
  std::string out;
  encodePayload({0x0123456789abcdefull, 77, 123456789012ull, 9}, 128, out);
  EXPECT_EQ(out.size(), 128u);
  const auto p = decodePayload(out);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->intendedNs, 0x0123456789abcdefull);
  EXPECT_EQ(p->publisher, 77u);
  EXPECT_EQ(p->seq, 123456789012ull);
  EXPECT_EQ(p->step, 9u);
}

TEST(Payload, is_printable_ascii_without_json_escapes) {
  std::string out;
  encodePayload({1, 2, 3, 4}, 200, out);
  for (char c : out) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f && c != '"' && c != '\\') << int(c);
  }
}

TEST(Payload, raises_small_sizes_to_the_header) {
  std::string out;
  encodePayload({}, 1, out);
  EXPECT_EQ(out.size(), kPayloadHeaderSize);
}

TEST(Payload, rejects_foreign_text) {
  EXPECT_FALSE(decodePayload("hello"));
  EXPECT_FALSE(decodePayload(std::string(60, 'x')));
  std::string out;
  encodePayload({}, 64, out);
  out[10] = 'z';
  EXPECT_FALSE(decodePayload(out));
}
