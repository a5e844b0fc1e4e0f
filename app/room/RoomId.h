#pragma once

#include <string>
#include <string_view>

namespace heimdallr::room {

inline constexpr size_t kMaxRoomIdLength = 64;

/// Room ids are [A-Za-z0-9_-]{1,64}: the ancestor's numeric ids fit, and nothing that could
/// escape a bus subject (dots, wildcards) or a path does.
inline bool isValidRoomId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRoomIdLength) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// The bus subject of a room's messages.
inline std::string roomSubject(std::string_view id) {
  std::string subject("room.");
  subject.append(id);
  return subject;
}

}  // namespace heimdallr::room
