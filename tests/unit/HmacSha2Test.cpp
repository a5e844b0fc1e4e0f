#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/HmacSha2.h"

using heimdallr::auth::HmacSha2;

namespace {

std::string hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
const char* const kData = "what do ya want for nothing?";
const char* const kMac256 = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
const char* const kMac384 =
    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab216"
    "49";
const char* const kMac512 =
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6"
    "fd"
    "caeab1a34d4a6b4b636e070a38bce737";

}  // namespace

TEST(HmacSha2, matches_rfc_4231_for_every_width) {
  const HmacSha2 mac("Jefe");
  EXPECT_EQ(hex(mac.sign(256, kData)), kMac256);
  EXPECT_EQ(hex(mac.sign(384, kData)), kMac384);
  EXPECT_EQ(hex(mac.sign(512, kData)), kMac512);
}

TEST(HmacSha2, gives_the_same_mac_on_every_call_and_width_in_turn) {
  const HmacSha2 mac("Jefe");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(hex(mac.sign(512, kData)), kMac512);
    EXPECT_EQ(hex(mac.sign(256, kData)), kMac256);
  }
}

TEST(HmacSha2, a_new_instance_where_the_last_one_was_uses_its_own_key) {
  // Made and dropped in one slot, so each likely lands at the address of the one before.
  std::optional<HmacSha2> mac;
  for (int i = 0; i < 4; ++i) {
    mac.emplace(i % 2 ? "Jefe" : "another key");
    const std::string got = hex(mac->sign(256, kData));
    if (i % 2) {
      EXPECT_EQ(got, kMac256) << i;
    } else {
      EXPECT_NE(got, kMac256) << i;
    }
    mac.reset();
  }
}

TEST(HmacSha2, instances_used_in_turn_on_one_thread_keep_their_own_keys) {
  const HmacSha2 jefe("Jefe");
  const HmacSha2 other("another key");
  const std::string otherMac = hex(other.sign(256, kData));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(hex(jefe.sign(256, kData)), kMac256);
    EXPECT_EQ(hex(other.sign(256, kData)), otherMac);
  }
  EXPECT_NE(otherMac, kMac256);
}

TEST(HmacSha2, refuses_other_widths) {
  const HmacSha2 mac("Jefe");
  EXPECT_EQ(mac.sign(128, kData), "");
  EXPECT_EQ(mac.sign(0, kData), "");
}

TEST(HmacSha2, many_threads_share_one_instance) {
  const HmacSha2 mac("Jefe");
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) wrong[t] += hex(mac.sign(256, kData)) != kMac256;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << t;
}
