// Subject syntax and wildcard matching, shared by the host and plugins (header-only so a plugin
// needs nothing but this folder). Pure functions: thread-safe.
#pragma once

#include <string_view>

namespace heimdallr::bus {

namespace detail {
/// Splits off the token before the next '.', advancing `rest` past it. Returns false at the end.
inline bool nextToken(std::string_view& rest, std::string_view& token, bool& more) {
  if (!more) return false;
  const auto dot = rest.find('.');
  if (dot == std::string_view::npos) {
    token = rest;
    rest = {};
    more = false;
  } else {
    token = rest.substr(0, dot);
    rest.remove_prefix(dot + 1);
  }
  return true;
}

inline bool validTokens(std::string_view s, bool allowWildcards) {
  if (s.empty()) return false;
  std::string_view token;
  bool more = true;
  while (nextToken(s, token, more)) {
    if (token.empty()) return false;
    for (char c : token) {
      // Printable ASCII only. Compared as unsigned: with a signed char (x86) bytes >= 0x80 are
      // negative and fell under "<= ' '", with an unsigned one (ARM) they passed.
      const auto byte = static_cast<unsigned char>(c);
      if (byte <= ' ' || byte >= 0x7f) return false;
    }
    const bool wildcard = token == "*" || token == ">";
    if (!allowWildcards && token.find_first_of("*>") != std::string_view::npos) return false;
    if (allowWildcards && !wildcard && token.find_first_of("*>") != std::string_view::npos) {
      return false;  // "a*" is neither a literal nor a wildcard
    }
    if (token == ">" && more) return false;  // '>' only as the last token
  }
  return true;
}
}  // namespace detail

/// A publishable subject: non-empty dot-separated tokens of printable ASCII, no wildcards, no
/// whitespace.
inline bool isValidSubject(std::string_view subject) { return detail::validTokens(subject, false); }

/// A subscription pattern: like a subject, but a token may be `*`, and the last may be `>`.
inline bool isValidPattern(std::string_view pattern) { return detail::validTokens(pattern, true); }

/// True when the pattern is a plain subject (an exact-match subscription).
inline bool isLiteralPattern(std::string_view pattern) {
  return pattern.find_first_of("*>") == std::string_view::npos;
}

/// NATS semantics: `*` matches exactly one token, a final `>` matches one or more tokens.
/// Both arguments are assumed valid (see isValidPattern / isValidSubject).
inline bool subjectMatches(std::string_view pattern, std::string_view subject) {
  std::string_view p, s;
  bool pMore = true, sMore = true;
  while (detail::nextToken(pattern, p, pMore)) {
    if (p == ">") return detail::nextToken(subject, s, sMore);  // needs at least one token
    if (!detail::nextToken(subject, s, sMore)) return false;
    if (p != "*" && p != s) return false;
  }
  return !sMore;
}

}  // namespace heimdallr::bus
