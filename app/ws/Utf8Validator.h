#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace heimdallr::ws {

/// Incremental UTF-8 validator (RFC 3629): a small DFA whose state survives between feed() calls,
/// so a text message can be checked fragment by fragment and rejected at its first bad byte.
/// Not thread-safe: one per decoder, used on that decoder's thread.
class Utf8Validator {
 public:
  /// Validates the next `len` bytes. Returns false as soon as the bytes fed since reset() cannot be
  /// the prefix of valid UTF-8: stray continuation bytes, overlong forms, surrogates
  /// (U+D800-U+DFFF), code points above U+10FFFF. Once false it stays false until reset().
  bool feed(const char* data, size_t len);

  /// True when everything fed so far is valid and does not end in the middle of a sequence.
  bool complete() const { return state_ == kAcceptState; }

  void reset() { state_ = kAcceptState; }

  /// One-shot check of a whole string.
  static bool isValid(std::string_view text);

 private:
  // The DFA's start and accept state; the other states live in Utf8Validator.cpp.
  static constexpr uint8_t kAcceptState = 0;

  uint8_t state_ = kAcceptState;
};

}  // namespace heimdallr::ws
