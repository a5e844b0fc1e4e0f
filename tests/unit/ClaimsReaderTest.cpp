#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/ClaimsReader.h"
#include "auth/JsonText.h"

using heimdallr::auth::readClaims;
using Strings = std::vector<std::string>;

namespace {

constexpr int kDepth = static_cast<int>(heimdallr::auth::kMaxClaimDepth);

}  // namespace

TEST(ClaimsReader, reads_every_claim_it_knows) {
  const auto claims = readClaims(
      R"({"sub":"alice","iss":"me","aud":["a","b"],"exp":1800003600,"nbf":1.5e9,"iat":-3,)"
      R"("rooms":["team-*","42"],"pub":[],"info":{"name":"Al"},"other":{"sub":"x"}})",
      kDepth);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->sub.value, "alice");
  EXPECT_EQ(claims->iss.value, "me");
  EXPECT_EQ(claims->aud.value, (Strings{"a", "b"}));
  EXPECT_EQ(claims->exp.value, 1800003600.0);
  EXPECT_EQ(claims->nbf.value, 1.5e9);
  EXPECT_EQ(claims->iat.value, -3.0);
  EXPECT_EQ(claims->rooms.value, (Strings{"team-*", "42"}));
  EXPECT_EQ(claims->pub.value, Strings{});
  EXPECT_EQ(claims->info.value, R"({"name":"Al"})");
}

TEST(ClaimsReader, absent_claims_are_neither_present_nor_wrong) {
  const auto claims = readClaims("{}", kDepth);
  ASSERT_TRUE(claims);
  EXPECT_FALSE(claims->sub.present());
  EXPECT_FALSE(claims->exp.present());
  EXPECT_FALSE(claims->rooms.present());
  EXPECT_FALSE(claims->info.present());
}

TEST(ClaimsReader, a_single_audience_string_is_a_list_of_one) {
  const auto claims = readClaims(R"({"aud":"api"})", kDepth);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->aud.value, Strings{"api"});
}

TEST(ClaimsReader, flags_every_wrong_shape) {
  const auto claims = readClaims(
      R"({"sub":7,"iss":null,"aud":{"x":1},"exp":"soon","nbf":true,"iat":[],"rooms":"r",)"
      R"("pub":[1],"info":[{}]})",
      kDepth);
  ASSERT_TRUE(claims);
  for (bool wrong : {claims->sub.wrongShape, claims->iss.wrongShape, claims->aud.wrongShape,
                     claims->exp.wrongShape, claims->nbf.wrongShape, claims->iat.wrongShape,
                     claims->rooms.wrongShape, claims->pub.wrongShape, claims->info.wrongShape}) {
    EXPECT_TRUE(wrong);
  }
  EXPECT_FALSE(claims->sub.value);
  EXPECT_FALSE(claims->rooms.value);
}

TEST(ClaimsReader, a_list_holding_anything_but_strings_is_wrong) {
  for (const char* list : {R"(["a",["b"]])", R"(["a",{"b":1}])", R"([null])", R"(["a",true])"}) {
    const auto claims = readClaims(std::string(R"({"rooms":)") + list + "}", kDepth);
    ASSERT_TRUE(claims) << list;
    EXPECT_TRUE(claims->rooms.wrongShape) << list;
    EXPECT_FALSE(claims->rooms.value) << list;
  }
}

TEST(ClaimsReader, a_later_duplicate_wins_as_in_a_poco_object) {
  const auto claims = readClaims(
      R"({"sub":1,"sub":"later","rooms":["a"],"rooms":[["b"]],"exp":"x","exp":5})", kDepth);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->sub.value, "later");
  EXPECT_FALSE(claims->sub.wrongShape);
  EXPECT_TRUE(claims->rooms.wrongShape);
  EXPECT_FALSE(claims->rooms.value);
  EXPECT_EQ(claims->exp.value, 5.0);
}

TEST(ClaimsReader, claims_nested_in_other_members_do_not_count) {
  const auto claims = readClaims(
      R"({"x":{"sub":"no","rooms":["no"]},"y":[{"exp":1}],"info":{"sub":{"a":[]}},"z":"s"})",
      kDepth);
  ASSERT_TRUE(claims);
  EXPECT_FALSE(claims->sub.present());
  EXPECT_FALSE(claims->rooms.present());
  EXPECT_FALSE(claims->exp.present());
  EXPECT_EQ(claims->info.value, R"({"sub":{"a":[]}})");
}

TEST(ClaimsReader, info_is_compact_with_sorted_keys_and_nested_values) {
  const auto claims = readClaims(
      R"({"info": { "b" : [1, 2.5, {"y":null,"x":true}], "a" : {"c" : "d\n"} }})", kDepth);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->info.value, R"({"a":{"c":"d\n"},"b":[1,2.5,{"x":true,"y":null}]})");
}

TEST(ClaimsReader, numbers_of_every_width) {
  const auto claims =
      readClaims(R"({"exp":18446744073709551615,"nbf":-9223372036854775808,"iat":1.25e3})", kDepth);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->exp.value, 18446744073709551615.0);
  EXPECT_EQ(claims->nbf.value, -9223372036854775808.0);
  EXPECT_EQ(claims->iat.value, 1250.0);
  // POCO's parser refuses a double that overflows, so infinity never reaches a claim.
  EXPECT_FALSE(readClaims(R"({"exp":1e400})", kDepth));
}

TEST(ClaimsReader, refuses_text_that_is_not_one_json_object) {
  for (const char* text : {"", "[]", R"(["sub"])", "\"sub\"", "1", "null", "{", R"({"a":1}x)",
                           R"({"a":1,})", R"({'a':1})"}) {
    EXPECT_FALSE(readClaims(text, kDepth)) << text;
  }
}

TEST(ClaimsReader, refuses_nesting_beyond_the_limit) {
  std::string deep = R"({"info":)";
  for (int i = 0; i < 20; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 20; ++i) deep += "}";
  deep += "}";
  EXPECT_FALSE(readClaims(deep, kDepth));
  EXPECT_TRUE(readClaims(R"({"info":{"a":{"b":1}}})", kDepth));
}
