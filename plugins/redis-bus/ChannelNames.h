#pragma once

#include <string>
#include <string_view>

namespace heimdallr::bus {

/// Maps bus subjects to Redis channel names, NATS patterns to Redis glob patterns, and subjects to
/// the keys of their storage (streams, presence). Pure: thread-safe.
class ChannelNames {
 public:
  explicit ChannelNames(std::string prefix) : prefix_(prefix.empty() ? "" : prefix + ".") {}

  /// "room.42" -> "heimdallr.room.42"
  std::string channel(std::string_view subject) const { return prefix_ + std::string(subject); }

  /// The key of one of a subject's storage structures: key("meta", "room.42") ->
  /// "heimdallr.meta.room.42". Kinds: "meta" (hash: epoch `e`, top offset `t`), "stream" (the
  /// messages), "presence" (hash client -> member), "presence-exp" (zset client -> expiry, ms).
  std::string key(std::string_view kind, std::string_view subject) const {
    std::string out = prefix_;
    out.append(kind).append(1, '.').append(subject);
    return out;
  }

  /// "heimdallr.room.42" -> "room.42"; empty when the channel is not ours.
  std::string_view subject(std::string_view channel) const {
    if (channel.substr(0, prefix_.size()) != prefix_) return {};
    return channel.substr(prefix_.size());
  }

  /// A Redis glob matching at least every subject the NATS pattern matches: `*` and `>` tokens
  /// become `*` (which also spans dots, so received messages are filtered again with
  /// subjectMatches); glob metacharacters in literal tokens are escaped.
  std::string glob(std::string_view pattern) const {
    std::string out = escape(prefix_);
    size_t start = 0;
    while (start <= pattern.size()) {
      const size_t dot = pattern.find('.', start);
      const std::string_view token = pattern.substr(
          start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
      out += (token == "*" || token == ">") ? std::string("*") : escape(token);
      if (dot == std::string_view::npos) break;
      out += '.';
      start = dot + 1;
    }
    return out;
  }

 private:
  static std::string escape(std::string_view text) {
    std::string out;
    for (char c : text) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }

  std::string prefix_;
};

}  // namespace heimdallr::bus
