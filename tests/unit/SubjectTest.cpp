#include <gtest/gtest.h>

#include "heimdallr/bus/Subject.h"

namespace heimdallr::bus {

TEST(Subject, accepts_dot_separated_tokens) {
  EXPECT_TRUE(isValidSubject("room.42"));
  EXPECT_TRUE(isValidSubject("stats"));
  EXPECT_TRUE(isValidSubject("a.b.c-d_e"));
}

TEST(Subject, rejects_empty_tokens_whitespace_and_wildcards) {
  for (const char* bad :
       {"", ".", "room.", ".room", "room..42", "room 42", "room.*", "room.>", "a\tb", "room.4*"}) {
    EXPECT_FALSE(isValidSubject(bad)) << bad;
  }
}

// Found by tests/fuzz/subject_matcher: bytes >= 0x80 were rejected only where char is signed
// (x86) and accepted where it is unsigned (ARM). Printable ASCII only, on every platform.
TEST(Subject, rejects_non_ascii_and_control_bytes_whatever_the_signedness_of_char) {
  for (const char* bad : {"room.\xc3\xa9", "room.\x80", "\xff", "room.\x7f", "a\x01"}) {
    EXPECT_FALSE(isValidSubject(bad)) << bad;
    EXPECT_FALSE(isValidPattern(bad)) << bad;
  }
  EXPECT_TRUE(isValidSubject("room.~!\"#$%&'()+,-/:;<=?@[\\]^_`{|}"));
}

TEST(Subject, pattern_allows_star_anywhere_and_gt_only_last) {
  EXPECT_TRUE(isValidPattern("room.*"));
  EXPECT_TRUE(isValidPattern("*.42"));
  EXPECT_TRUE(isValidPattern("room.>"));
  EXPECT_TRUE(isValidPattern(">"));
  EXPECT_TRUE(isValidPattern("*.*.>"));
  EXPECT_FALSE(isValidPattern("room.>.x"));
  EXPECT_FALSE(isValidPattern("room.4*"));
  EXPECT_FALSE(isValidPattern("room.>>"));
  EXPECT_FALSE(isValidPattern("room..*"));
  EXPECT_FALSE(isValidPattern(""));
}

TEST(Subject, literal_pattern_matches_only_itself) {
  EXPECT_TRUE(subjectMatches("room.42", "room.42"));
  EXPECT_FALSE(subjectMatches("room.42", "room.43"));
  EXPECT_FALSE(subjectMatches("room.42", "room.42.x"));
  EXPECT_FALSE(subjectMatches("room.42", "room"));
  EXPECT_FALSE(subjectMatches("room.4", "room.42"));
}

TEST(Subject, star_matches_exactly_one_token) {
  EXPECT_TRUE(subjectMatches("stats.*", "stats.node-1"));
  EXPECT_FALSE(subjectMatches("stats.*", "stats"));
  EXPECT_FALSE(subjectMatches("stats.*", "stats.a.b"));
  EXPECT_TRUE(subjectMatches("*.42", "room.42"));
  EXPECT_TRUE(subjectMatches("a.*.c", "a.b.c"));
  EXPECT_FALSE(subjectMatches("a.*.c", "a.b.d"));
}

TEST(Subject, gt_matches_one_or_more_trailing_tokens) {
  EXPECT_TRUE(subjectMatches("room.>", "room.42"));
  EXPECT_TRUE(subjectMatches("room.>", "room.42.history"));
  EXPECT_FALSE(subjectMatches("room.>", "room"));
  EXPECT_FALSE(subjectMatches("room.>", "rooms.42"));
  EXPECT_TRUE(subjectMatches(">", "anything.at.all"));
}

TEST(Subject, literal_pattern_detection) {
  EXPECT_TRUE(isLiteralPattern("room.42"));
  EXPECT_FALSE(isLiteralPattern("room.*"));
  EXPECT_FALSE(isLiteralPattern("room.>"));
}

}  // namespace heimdallr::bus
