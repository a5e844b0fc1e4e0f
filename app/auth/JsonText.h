#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ws/Utf8Validator.h"

namespace heimdallr::auth {

/// How deep a token's JSON may nest (the payload object counts as 1): claims are flat and `info`
/// may nest a little; deeper is an attack. The minter refuses what the verifier would.
inline constexpr size_t kMaxClaimDepth = 16;

/// RFC 3629 UTF-8 (no overlong forms, surrogates or code points past U+10FFFF) without NUL: the
/// text a claim may carry. The minter refuses anything else (the verifier's JSON parser would not
/// read it back) and the verifier refuses a `sub` or `info` that decodes to anything else (a
/// "\ud800" escape), so an Identity's strings are safe in a text frame. Thread-safe (pure).
inline bool isJsonText(std::string_view text) {
  return text.find('\0') == std::string_view::npos && ws::Utf8Validator::isValid(text);
}

/// Whether JSON `text` holds a \u0000 escape (one whose backslash is not itself escaped). POCO
/// 1.11 builds object keys with std::string(const char*), so such a key is cut at the NUL:
/// {"sub":"alice","sub\u0000x":"admin"} would read as a later `sub`. Claims never need a NUL, so
/// the verifier refuses these payloads outright. Thread-safe (pure).
inline bool hasEscapedNul(std::string_view text) {
  for (size_t at = text.find("\\u0000"); at != std::string_view::npos;
       at = text.find("\\u0000", at + 1)) {
    size_t backslashes = 0;
    while (at > backslashes && text[at - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return true;
  }
  return false;
}

}  // namespace heimdallr::auth
