#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "auth/RoomPatterns.h"

namespace heimdallr::auth {
namespace {

TEST(RoomPatterns, matches_exact_ids_and_prefixes) {
  const RoomPatterns patterns = RoomPatterns::parse({"42", "team-*"});
  EXPECT_TRUE(patterns.matches("42"));
  EXPECT_FALSE(patterns.matches("420"));
  EXPECT_FALSE(patterns.matches("4"));
  EXPECT_TRUE(patterns.matches("team-red"));
  EXPECT_TRUE(patterns.matches("team-"));
  EXPECT_FALSE(patterns.matches("team"));
  EXPECT_FALSE(patterns.matches("teamx"));
  EXPECT_FALSE(patterns.matches("red"));
  EXPECT_FALSE(patterns.matches(""));
}

TEST(RoomPatterns, a_lone_star_grants_every_room_and_an_empty_list_none) {
  const RoomPatterns all = RoomPatterns::parse({"*"});
  EXPECT_TRUE(all.matches("anything"));
  EXPECT_TRUE(all.matches(std::string(64, 'z')));
  const RoomPatterns none = RoomPatterns::parse({});
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.matches("42"));
}

TEST(RoomPatterns, refuses_entries_that_are_neither_ids_nor_prefixes) {
  for (const char* bad : {"", "a b", "a*b", "**", "*a", "room.42", "team-**"}) {
    EXPECT_THROW(RoomPatterns::parse({"ok", bad}), std::invalid_argument) << bad;
  }
  EXPECT_THROW(RoomPatterns::parse({std::string(65, 'a')}), std::invalid_argument);
  EXPECT_THROW(RoomPatterns::parse({std::string(64, 'a') + "*"}), std::invalid_argument);
  EXPECT_NO_THROW(RoomPatterns::parse({std::string(63, 'a') + "*"}));
  try {
    RoomPatterns::parse({"ok", "bad room"});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pattern 1 \"bad room\""), std::string::npos) << e.what();
  }
}

TEST(RoomPatterns, refuses_more_than_the_maximum_number_of_entries) {
  std::vector<std::string> many(RoomPatterns::kMaxEntries, "r");
  EXPECT_NO_THROW(RoomPatterns::parse(many));
  many.push_back("r");
  EXPECT_THROW(RoomPatterns::parse(many), std::invalid_argument);
}

TEST(RoomPatterns, parses_a_comma_separated_list_for_the_command_line) {
  const RoomPatterns patterns = RoomPatterns::parseList(" team-* , 42");
  EXPECT_EQ(patterns.entries(), (std::vector<std::string>{"team-*", "42"}));
  EXPECT_TRUE(RoomPatterns::parseList("").empty());
  EXPECT_THROW(RoomPatterns::parseList("a,,b"), std::invalid_argument);
  EXPECT_THROW(RoomPatterns::parseList("a,"), std::invalid_argument);
}

TEST(RoomPatterns, never_matches_an_invalid_room_id_even_with_a_star) {
  const RoomPatterns patterns = RoomPatterns::parse({"*", "a*"});
  EXPECT_FALSE(patterns.matches(""));
  EXPECT_FALSE(patterns.matches("a.b"));
  EXPECT_FALSE(patterns.matches("a>"));
  EXPECT_FALSE(patterns.matches(std::string(65, 'a')));
}

TEST(RoomPatterns, a_63_char_prefix_matches_only_64_char_ids) {
  const std::string prefix(63, 'p');
  const RoomPatterns patterns = RoomPatterns::parse({prefix + "*"});
  EXPECT_TRUE(patterns.matches(prefix + "x"));
  EXPECT_FALSE(patterns.matches(prefix + "xy"));  // 65 chars: not a room id
}

TEST(RoomPatterns, keeps_entries_as_given) {
  const std::vector<std::string> entries{"b", "a-*", "*", "b"};
  EXPECT_EQ(RoomPatterns::parse(entries).entries(), entries);
}

TEST(RoomPatterns, refuses_nul_and_non_ascii_and_caps_the_quoted_copy) {
  EXPECT_THROW(RoomPatterns::parse({std::string("a\0b", 3)}), std::invalid_argument);
  EXPECT_THROW(RoomPatterns::parse({"caf\xc3\xa9"}), std::invalid_argument);
  try {
    RoomPatterns::parse({std::string(10000, '.')});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_LT(std::string(e.what()).size(), 300u) << e.what();
  }
}

TEST(RoomPatterns, parse_list_refuses_a_leading_comma_and_a_bad_entry) {
  EXPECT_THROW(RoomPatterns::parseList(",a"), std::invalid_argument);
  EXPECT_THROW(RoomPatterns::parseList("a,b.c"), std::invalid_argument);
  EXPECT_TRUE(RoomPatterns::parseList("  ").empty());
}

}  // namespace
}  // namespace heimdallr::auth
