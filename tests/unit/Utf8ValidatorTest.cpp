#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "ws/Utf8Validator.h"

namespace heimdallr::ws {
namespace {

bool validWhole(const std::string& s) { return Utf8Validator::isValid(s); }

// Straightforward RFC 3629 decoder, written for clarity rather than speed, as the oracle for the
// exhaustive comparisons below.
bool referenceValid(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<uint8_t>(s[i]);
    size_t extra;
    uint32_t cp;
    uint32_t min;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1, cp = lead & 0x1F, min = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2, cp = lead & 0x0F, min = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3, cp = lead & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated
    for (size_t k = 1; k <= extra; ++k) {
      const auto c = static_cast<uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::string encodeCodePoint(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

TEST(Utf8Validator, accepts_empty_input) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed("", 0));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Validator, accepts_ascii_of_every_length_around_the_word_size) {
  for (size_t len = 0; len < 40; ++len) {
    EXPECT_TRUE(validWhole(std::string(len, 'a'))) << len;
  }
}

TEST(Utf8Validator, accepts_multibyte_text) {
  EXPECT_TRUE(validWhole("h\xC3\xA9llo w\xC3\xB6rld"));                     // Latin-1 range
  EXPECT_TRUE(validWhole("\xE2\x82\xAC 100"));                              // euro sign
  EXPECT_TRUE(validWhole("\xF0\x9F\x98\x80 \xF0\x9F\x8E\x89 emoji"));       // 4-byte
  EXPECT_TRUE(validWhole("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"));  // Autobahn 6.2
}

TEST(Utf8Validator, accepts_boundary_code_points) {
  for (uint32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u, 0xFFFDu, 0xFFFFu,
                      0x10000u, 0x10FFFFu}) {
    EXPECT_TRUE(validWhole(encodeCodePoint(cp))) << std::hex << cp;
  }
}

TEST(Utf8Validator, accepts_every_scalar_value) {
  Utf8Validator v;
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string s = encodeCodePoint(cp);
    ASSERT_TRUE(v.feed(s.data(), s.size())) << std::hex << cp;
    ASSERT_TRUE(v.complete()) << std::hex << cp;
  }
}

TEST(Utf8Validator, rejects_overlong_encodings) {
  EXPECT_FALSE(validWhole("\xC0\x80"));              // U+0000 in 2 bytes
  EXPECT_FALSE(validWhole("\xC1\xBF"));              // U+007F in 2 bytes
  EXPECT_FALSE(validWhole("\xE0\x80\x80"));          // U+0000 in 3 bytes
  EXPECT_FALSE(validWhole("\xE0\x9F\xBF"));          // U+07FF in 3 bytes
  EXPECT_FALSE(validWhole("\xF0\x80\x80\x80"));      // U+0000 in 4 bytes
  EXPECT_FALSE(validWhole("\xF0\x8F\xBF\xBF"));      // U+FFFF in 4 bytes
  EXPECT_FALSE(validWhole("\xF8\x88\x80\x80\x80"));  // 5-byte form
}

TEST(Utf8Validator, rejects_surrogates) {
  EXPECT_FALSE(validWhole("\xED\xA0\x80"));              // U+D800
  EXPECT_FALSE(validWhole("\xED\xAD\xBF"));              // U+DB7F
  EXPECT_FALSE(validWhole("\xED\xBF\xBF"));              // U+DFFF
  EXPECT_FALSE(validWhole("\xED\xA0\x80\xED\xB0\x80"));  // a CESU-8 style pair
}

TEST(Utf8Validator, rejects_code_points_above_10ffff) {
  EXPECT_FALSE(validWhole("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(validWhole("\xF7\xBF\xBF\xBF"));
  for (int b = 0xF5; b <= 0xFF; ++b) {
    EXPECT_FALSE(validWhole(std::string(1, static_cast<char>(b)))) << b;
  }
}

TEST(Utf8Validator, rejects_stray_continuation_and_interrupted_sequences) {
  EXPECT_FALSE(validWhole("\x80"));
  EXPECT_FALSE(validWhole("a\xBF"));
  EXPECT_FALSE(validWhole("\xC3(a"));
  EXPECT_FALSE(validWhole("\xE2\x82("));
  EXPECT_FALSE(validWhole("\xF0\x9F\x98("));
}

TEST(Utf8Validator, fails_at_the_first_byte_that_cannot_continue_valid_text) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed("ok \xED", 4));  // could still be U+D000..U+D7FF
  EXPECT_FALSE(v.complete());
  EXPECT_FALSE(v.feed("\xA0", 1));  // now it is a surrogate

  v.reset();
  EXPECT_TRUE(v.feed("\xF4", 1));
  EXPECT_FALSE(v.feed("\x90", 1));  // > U+10FFFF, known before the last two bytes

  v.reset();
  EXPECT_FALSE(v.feed("\xE0\x9F", 2));  // overlong, known at the second byte
}

TEST(Utf8Validator, reports_incomplete_sequence_until_its_last_byte) {
  Utf8Validator v;
  const std::string s = "\xF0\x9F\x98\x80";
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_TRUE(v.feed(&s[i], 1));
    EXPECT_EQ(v.complete(), i == s.size() - 1) << i;
  }
}

TEST(Utf8Validator, stays_rejected_until_reset) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed("\xFF", 1));
  EXPECT_FALSE(v.feed("abc", 3));
  EXPECT_FALSE(v.feed("", 0));
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_TRUE(v.feed("abc", 3));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Validator, gives_the_same_answer_for_every_split_of_the_input) {
  const std::string text = "abc \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 plain ascii run \xED\x9F\xBF!";
  const std::string bad = text + "\xED\xA0\x80 tail";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed(text.data(), cut));
    EXPECT_TRUE(v.feed(text.data() + cut, text.size() - cut));
    EXPECT_TRUE(v.complete()) << cut;
  }
  for (size_t cut = 0; cut <= bad.size(); ++cut) {
    Utf8Validator v;
    const bool first = v.feed(bad.data(), cut);
    const bool second = v.feed(bad.data() + cut, bad.size() - cut);
    EXPECT_FALSE(first && second) << cut;
  }
}

TEST(Utf8Validator, finds_a_bad_byte_at_any_offset_within_an_ascii_run) {
  for (size_t at = 0; at < 40; ++at) {
    std::string s(48, 'x');
    s[at] = static_cast<char>(0xFF);
    EXPECT_FALSE(validWhole(s)) << at;
    s.replace(at, 2, "\xC3\xA9");
    EXPECT_TRUE(validWhole(s)) << at;
    s.replace(at, 2, "\xC3x");
    EXPECT_FALSE(validWhole(s)) << at;
  }
}

TEST(Utf8Validator, matches_reference_on_all_one_and_two_byte_strings) {
  for (int a = 0; a < 256; ++a) {
    std::string s1(1, static_cast<char>(a));
    ASSERT_EQ(validWhole(s1), referenceValid(s1)) << a;
    for (int b = 0; b < 256; ++b) {
      std::string s2 = s1 + static_cast<char>(b);
      ASSERT_EQ(validWhole(s2), referenceValid(s2)) << a << " " << b;
    }
  }
}

TEST(Utf8Validator, matches_reference_on_all_three_byte_strings_with_a_three_byte_lead) {
  for (int a = 0xE0; a <= 0xEF; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c = 0; c < 256; ++c) {
        const char bytes[3] = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c)};
        const std::string s(bytes, 3);
        ASSERT_EQ(validWhole(s), referenceValid(s)) << a << " " << b << " " << c;
      }
    }
  }
}

TEST(Utf8Validator, matches_reference_on_four_byte_strings) {
  const int tails[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  for (int a = 0xF0; a <= 0xF7; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : tails) {
        for (int d : tails) {
          const char bytes[4] = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                                 static_cast<char>(d)};
          const std::string s(bytes, 4);
          ASSERT_EQ(validWhole(s), referenceValid(s)) << a << " " << b << " " << c << " " << d;
        }
      }
    }
  }
}

TEST(Utf8Validator, matches_reference_on_random_mostly_valid_strings) {
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int pieces = static_cast<int>(rng() % 8);
    for (int p = 0; p < pieces; ++p) {
      if (rng() % 4 == 0) {
        s += static_cast<char>(rng() & 0xFF);  // noise
      } else {
        s += encodeCodePoint(rng() % 0x110000);  // may be a surrogate: also invalid
      }
    }
    ASSERT_EQ(validWhole(s), referenceValid(s)) << iter;
  }
}

}  // namespace
}  // namespace heimdallr::ws
