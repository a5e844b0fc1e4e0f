#pragma once

#include <algorithm>
#include <string_view>

namespace heimdallr::auth {

/// Compares two secrets (a signature, an API key) in time that depends only on their lengths:
/// every byte of the longer input is read whatever the contents. Thread-safe.
inline bool constantTimeEquals(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

}  // namespace heimdallr::auth
