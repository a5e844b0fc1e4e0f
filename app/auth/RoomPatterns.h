#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace heimdallr::auth {

/// The rooms a token grants (its `rooms` or `pub` claim): each entry an exact room id, or a prefix
/// followed by '*' ("team-*"); "*" alone grants every room. Immutable after parse(): thread-safe.
class RoomPatterns {
 public:
  static constexpr size_t kMaxEntries = 1000;

  /// An empty list matches nothing. Throws std::invalid_argument naming the bad entry (its index
  /// and a quoted, shortened copy) when an entry is neither a room id ([A-Za-z0-9_-]{1,64}) nor
  /// such characters (at most 63, possibly none) followed by '*', or when there are more than
  /// kMaxEntries.
  static RoomPatterns parse(const std::vector<std::string>& entries);
  /// Splits "team-*,42" on commas, trimming spaces (an empty item is refused; "" is the empty
  /// list), then parse(). For the command line.
  static RoomPatterns parseList(std::string_view commaSeparated);

  /// An exact entry or a prefix; false for anything that is not a valid room id, even with "*".
  bool matches(std::string_view roomId) const;
  bool empty() const { return entries_.empty(); }
  /// As given, for minting and for messages.
  const std::vector<std::string>& entries() const { return entries_; }

 private:
  std::vector<std::string> entries_;
  std::unordered_set<std::string> exact_;
  std::vector<std::string> prefixes_;  // without the '*'; "" grants every room
};

}  // namespace heimdallr::auth
