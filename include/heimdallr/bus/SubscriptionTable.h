// A plugin's subscriptions, indexed for dispatch: exact subjects by hash (a message finds its
// room's subscribers in O(1)), wildcard patterns in a list matched with subjectMatches.
// Header-only; not thread-safe: the plugin guards it with its own lock.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/Subject.h"

namespace heimdallr::bus {

class SubscriptionTable {
 public:
  struct Entry {
    SubscriptionId id;
    std::string pattern;
    std::string key;  ///< plugin data, e.g. the backend name a wildcard pattern maps to
    MessageHandler handler;
  };

  /// `pattern` must be valid (isValidPattern).
  SubscriptionId add(const std::string& pattern, std::string key, MessageHandler handler) {
    const SubscriptionId id = nextId_++;
    patterns_.emplace(id, pattern);
    Entry entry{id, pattern, std::move(key), std::move(handler)};
    if (isLiteralPattern(pattern)) {
      exact_.emplace(pattern, std::move(entry));
    } else {
      wildcard_.push_back(std::move(entry));
    }
    return id;
  }

  /// Removes the subscription and returns its pattern and key; nullopt for an unknown id.
  std::optional<Entry> remove(SubscriptionId id) {
    auto known = patterns_.find(id);
    if (known == patterns_.end()) return std::nullopt;
    const std::string pattern = std::move(known->second);
    patterns_.erase(known);
    std::optional<Entry> removed;
    if (isLiteralPattern(pattern)) {
      auto [first, last] = exact_.equal_range(pattern);
      for (auto it = first; it != last; ++it) {
        if (it->second.id == id) {
          removed = std::move(it->second);
          exact_.erase(it);
          break;
        }
      }
    } else {
      for (auto it = wildcard_.begin(); it != wildcard_.end(); ++it) {
        if (it->id == id) {
          removed = std::move(*it);
          wildcard_.erase(it);
          break;
        }
      }
    }
    return removed;
  }

  /// Calls f(entry) for each literal subscription to exactly `subject`.
  template <typename F>
  void forEachExact(const std::string& subject, F&& f) const {
    auto [first, last] = exact_.equal_range(subject);
    for (auto it = first; it != last; ++it) f(it->second);
  }

  /// Calls f(entry) for each wildcard subscription whose pattern matches `subject`.
  template <typename F>
  void forEachWildcard(std::string_view subject, F&& f) const {
    for (const auto& entry : wildcard_) {
      if (subjectMatches(entry.pattern, subject)) f(entry);
    }
  }

 private:
  SubscriptionId nextId_ = 1;
  std::unordered_map<SubscriptionId, std::string> patterns_;  // id -> pattern, for remove()
  std::unordered_multimap<std::string, Entry> exact_;
  std::vector<Entry> wildcard_;
};

}  // namespace heimdallr::bus
