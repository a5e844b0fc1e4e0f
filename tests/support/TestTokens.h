#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "auth/TokenMinter.h"

namespace heimdallr::test {

/// The wall clock in epoch seconds, as token claims count it.
inline int64_t wallSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// An HS256 connect token from our own minter (tests/e2e/auth.e2e.mjs uses an independent one).
inline std::string mintTestToken(const std::string& user, std::vector<std::string> rooms,
                                 const std::string& secret,
                                 std::optional<std::vector<std::string>> publish = std::nullopt,
                                 std::chrono::seconds ttl = std::chrono::hours(1),
                                 int64_t now = wallSeconds()) {
  auth::MintRequest request;
  request.user = user;
  request.rooms = std::move(rooms);
  request.publish = std::move(publish);
  request.ttl = ttl;
  request.nowSeconds = now;
  return auth::mintToken(request, "HS256", secret);
}

/// A folder of its own for a test's key files, removed with it. Not thread-safe.
class TempFiles {
 public:
  TempFiles() {
    path_ = std::filesystem::temp_directory_path() /
            ("heimdallr-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(path_);
  }
  ~TempFiles() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempFiles(const TempFiles&) = delete;
  TempFiles& operator=(const TempFiles&) = delete;

  /// Writes (or replaces) `name` and returns its path.
  std::string write(const std::string& name, const std::string& contents) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
    return file.string();
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace heimdallr::test
