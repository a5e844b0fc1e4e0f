#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace heimdallr::config {

/// A bad configuration file or --set override. The message always starts with the source (the
/// file path, or "--set") and names the dotted key when the problem concerns one, so a start-up
/// failure can be fixed without reading code. Immutable, so safe to share between threads.
class ConfigError : public std::runtime_error {
 public:
  /// Message: `source: key: detail`, or `source: detail` when `key` is empty (unreadable file,
  /// YAML syntax error).
  ConfigError(std::string source, std::string key, const std::string& detail)
      : std::runtime_error(key.empty() ? source + ": " + detail
                                       : source + ": " + key + ": " + detail),
        source_(std::move(source)),
        key_(std::move(key)) {}

  /// Message: `source: unknown key "key"` followed by `hint` (e.g. a did-you-mean) if any.
  static ConfigError unknownKey(std::string source, std::string key, const std::string& hint = {}) {
    std::string message = source + ": unknown key \"" + key + "\"" + hint;
    return ConfigError(Preformatted{}, std::move(source), std::move(key), message);
  }

  /// The file path, or "--set".
  const std::string& source() const noexcept { return source_; }
  /// The dotted key, or empty when the error is about the whole file.
  const std::string& key() const noexcept { return key_; }

 private:
  struct Preformatted {};
  ConfigError(Preformatted, std::string source, std::string key, const std::string& message)
      : std::runtime_error(message), source_(std::move(source)), key_(std::move(key)) {}

  std::string source_;
  std::string key_;
};

}  // namespace heimdallr::config
