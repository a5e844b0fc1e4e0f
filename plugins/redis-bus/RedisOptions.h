#pragma once

#include <cstddef>
#include <string>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::bus {

/// The Redis plugin's settings (config `bus.redis.*`). Plain data.
struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username;  ///< ACL user; empty = the default user
  std::string password;  ///< empty = no AUTH
  int connectTimeoutMs = 2000;
  std::string channelPrefix = "heimdallr";   ///< every channel is "<prefix>.<subject>"
  size_t maxPendingBytes = 8 * 1024 * 1024;  ///< unacknowledged publish bytes before dropping
  /// How long a storage request (append, read, presence) waits for Redis before its callback gets
  /// an error (a hung Redis: the connection is open but nothing answers).
  int storageTimeoutMs = 5000;

  /// Validates and converts `options`; throws std::invalid_argument("<key>: ...") on an unknown
  /// key or a bad value.
  static RedisOptions parse(const Options& options);
};

}  // namespace heimdallr::bus
