#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace heimdallr::test {

/// The sanitizer report in `output` (a child process's captured stdout and stderr): from the
/// first line that starts a report to at most `maxBytes` further, or "" when there is none.
/// A sanitized heimdallr (scripts/test-sanitizers) prints ASan, LSan, UBSan and TSan reports to
/// its stderr, where only the test that started it can see them. Plain function, thread-safe.
inline std::string sanitizerReport(std::string_view output, size_t maxBytes = 16 * 1024) {
  static constexpr std::array<std::string_view, 6> kMarkers = {
      "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",   "WARNING: ThreadSanitizer",
      "ERROR: ThreadSanitizer",  "FATAL: ThreadSanitizer", ": runtime error: "};
  size_t first = std::string_view::npos;
  for (std::string_view marker : kMarkers) first = std::min(first, output.find(marker));
  if (first == std::string_view::npos) return {};
  const size_t lineStart = output.rfind('\n', first);
  first = lineStart == std::string_view::npos ? 0 : lineStart + 1;
  return std::string(output.substr(first, maxBytes));
}

}  // namespace heimdallr::test
