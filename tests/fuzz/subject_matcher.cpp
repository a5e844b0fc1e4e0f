// libFuzzer target: bus subjects and patterns (Subject.h) and the SubscriptionTable.
//
// The input is up to 16 lines. Every line is checked as a subject and as a pattern against a
// plain reference written here from the documented rules (split on '.', no empty token, only
// printable ASCII, `*` alone is one token, `>` alone and last is one or more tokens), and every
// valid (pattern, subject) pair is matched by both. Then the lines drive a SubscriptionTable: a
// valid pattern is added, any other line removes the id its first byte names; after that every
// valid subject must reach exactly the live subscriptions the reference matches.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "heimdallr/bus/Subject.h"
#include "heimdallr/bus/SubscriptionTable.h"

namespace {

using heimdallr::bus::SubscriptionId;
using heimdallr::bus::SubscriptionTable;

constexpr size_t kMaxLines = 16;

using Tokens = std::vector<std::string_view>;

Tokens splitTokens(std::string_view s) {
  Tokens tokens;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    tokens.push_back(s.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return tokens;
}

bool referenceValid(const Tokens& tokens, bool pattern) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string_view t = tokens[i];
    if (t.empty()) return false;
    for (char c : t) {
      const auto b = static_cast<unsigned char>(c);
      if (b < 0x21 || b > 0x7e) return false;  // printable ASCII, no space
    }
    const bool hasWildcardChar = t.find_first_of("*>") != std::string_view::npos;
    if (!pattern && hasWildcardChar) return false;
    if (pattern && hasWildcardChar && t != "*" && t != ">") return false;
    if (pattern && t == ">" && i + 1 != tokens.size()) return false;
  }
  return true;
}

bool referenceMatch(const Tokens& p, const Tokens& s) {
  const bool tail = p.back() == ">";
  const size_t fixed = tail ? p.size() - 1 : p.size();
  if (tail ? s.size() <= fixed : s.size() != fixed) return false;
  for (size_t i = 0; i < fixed; ++i) {
    if (p[i] != "*" && p[i] != s[i]) return false;
  }
  return true;
}

struct Live {
  SubscriptionId id;
  size_t line;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  while (lines.size() < kMaxLines) {
    const size_t nl = input.find('\n');
    lines.emplace_back(input.substr(0, nl));
    if (nl == std::string_view::npos) break;
    input.remove_prefix(nl + 1);
  }

  std::vector<Tokens> tokens(lines.size());
  std::vector<bool> subject(lines.size()), pattern(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    tokens[i] = splitTokens(line);
    subject[i] = heimdallr::bus::isValidSubject(line);
    pattern[i] = heimdallr::bus::isValidPattern(line);
    FUZZ_CHECK(subject[i] == (!line.empty() && referenceValid(tokens[i], false)));
    FUZZ_CHECK(pattern[i] == (!line.empty() && referenceValid(tokens[i], true)));
    FUZZ_CHECK(heimdallr::bus::isLiteralPattern(line) ==
               (line.find_first_of("*>") == std::string::npos));
    if (subject[i]) FUZZ_CHECK(pattern[i]);  // every subject is a (literal) pattern
  }
  for (size_t p = 0; p < lines.size(); ++p) {
    if (!pattern[p]) continue;
    for (size_t s = 0; s < lines.size(); ++s) {
      if (!subject[s]) continue;
      const bool matches = heimdallr::bus::subjectMatches(lines[p], lines[s]);
      FUZZ_CHECK(matches == referenceMatch(tokens[p], tokens[s]));
      if (p == s) FUZZ_CHECK(matches);  // a subject matches itself
    }
  }

  SubscriptionTable table;
  std::vector<Live> live;
  SubscriptionId lastId = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (pattern[i]) {
      const SubscriptionId id = table.add(lines[i], "key" + std::to_string(i), nullptr);
      FUZZ_CHECK(id > lastId);  // ids are never reused
      lastId = id;
      live.push_back({id, i});
      continue;
    }
    const SubscriptionId id = lines[i].empty() ? 0 : static_cast<uint8_t>(lines[i][0]) % 20;
    const auto known =
        std::find_if(live.begin(), live.end(), [id](const Live& l) { return l.id == id; });
    const std::optional<SubscriptionTable::Entry> removed = table.remove(id);
    FUZZ_CHECK(removed.has_value() == (known != live.end()));
    if (removed) {
      FUZZ_CHECK(removed->id == id && removed->pattern == lines[known->line]);
      live.erase(known);
    }
  }
  for (size_t s = 0; s < lines.size(); ++s) {
    if (!subject[s]) continue;
    std::vector<SubscriptionId> reached, expected;
    table.forEachExact(lines[s], [&](const SubscriptionTable::Entry& e) {
      FUZZ_CHECK(e.pattern == lines[s]);
      reached.push_back(e.id);
    });
    table.forEachWildcard(lines[s], [&](const SubscriptionTable::Entry& e) {
      FUZZ_CHECK(!heimdallr::bus::isLiteralPattern(e.pattern));
      reached.push_back(e.id);
    });
    for (const Live& l : live) {
      if (referenceMatch(tokens[l.line], tokens[s])) expected.push_back(l.id);
    }
    std::sort(reached.begin(), reached.end());
    FUZZ_CHECK(std::adjacent_find(reached.begin(), reached.end()) == reached.end());
    FUZZ_CHECK(reached == expected);
  }
  return 0;
}
