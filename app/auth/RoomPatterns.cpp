#include "auth/RoomPatterns.h"

#include <algorithm>
#include <stdexcept>

#include "room/RoomId.h"

namespace heimdallr::auth {

namespace {
std::string shown(std::string_view entry) {
  constexpr size_t kMaxShown = 40;
  std::string text;
  for (char c : entry.substr(0, kMaxShown)) {
    text += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
  }
  return "\"" + text + (entry.size() > kMaxShown ? "...\"" : "\"");
}

bool isPrefixPattern(std::string_view entry) {
  if (entry.empty() || entry.back() != '*') return false;
  const std::string_view prefix = entry.substr(0, entry.size() - 1);
  // The prefix uses the room-id alphabet; "*" alone is every room.
  return prefix.size() < room::kMaxRoomIdLength && (prefix.empty() || room::isValidRoomId(prefix));
}
}  // namespace

RoomPatterns RoomPatterns::parse(const std::vector<std::string>& entries) {
  if (entries.size() > kMaxEntries) {
    throw std::invalid_argument("more than " + std::to_string(kMaxEntries) + " room patterns");
  }
  RoomPatterns patterns;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& entry = entries[i];
    if (room::isValidRoomId(entry)) {
      patterns.exact_.insert(entry);
    } else if (isPrefixPattern(entry)) {
      patterns.prefixes_.push_back(entry.substr(0, entry.size() - 1));
    } else {
      throw std::invalid_argument("room pattern " + std::to_string(i) + " " + shown(entry) +
                                  " is neither a room id ([A-Za-z0-9_-]{1,64}) nor a prefix "
                                  "followed by '*'");
    }
    patterns.entries_.push_back(entry);
  }
  return patterns;
}

RoomPatterns RoomPatterns::parseList(std::string_view commaSeparated) {
  std::vector<std::string> entries;
  const auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  if (trim(commaSeparated).empty()) return parse(entries);
  size_t start = 0;
  for (;;) {
    const size_t comma = commaSeparated.find(',', start);
    const std::string_view item = trim(commaSeparated.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (item.empty()) throw std::invalid_argument("empty room pattern in the list");
    entries.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return parse(entries);
}

bool RoomPatterns::matches(std::string_view roomId) const {
  // "*" grants rooms, not whatever string a caller forgot to validate.
  if (!room::isValidRoomId(roomId)) return false;
  if (exact_.find(std::string(roomId)) != exact_.end()) return true;
  return std::any_of(prefixes_.begin(), prefixes_.end(),
                     [roomId](const std::string& prefix) { return roomId.starts_with(prefix); });
}

}  // namespace heimdallr::auth
