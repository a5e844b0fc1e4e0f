#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "auth/TokenVerifier.h"
#include "config/Config.h"

namespace heimdallr::server {

/// The secrets in force: the connect-token verifier and the server API key. They are read from
/// the files (or environment variables) the config names, never from the config itself, and can
/// be replaced while the node runs (SIGHUP). Thread-safe: the loops take current() once per
/// upgrade or API request; the main thread calls replace().
class Credentials {
 public:
  /// One consistent set of secrets. Immutable, shared by every request that started under it.
  struct Set {
    /// Null when auth.enabled is false: every client may join every room, as in the ancestor.
    std::shared_ptr<const auth::TokenVerifier> verifier;
    /// Empty when the API is off (no api.key_file and no HEIMDALLR_API_KEY): /api/* answers 404.
    std::string apiKey;
  };

  static constexpr const char* kHmacSecretEnv = "HEIMDALLR_AUTH_HMAC_SECRET";
  static constexpr const char* kApiKeyEnv = "HEIMDALLR_API_KEY";

  /// Reads every secret `config` names. Throws config::ConfigError naming `source` (the config
  /// file) and the key (or the environment variable) at fault: auth on without exactly one key,
  /// an unreadable file, a bad PEM, a secret that is too short. Main thread, at start-up and on
  /// SIGHUP.
  static std::shared_ptr<const Set> load(const config::Config& config, const std::string& source);

  explicit Credentials(std::shared_ptr<const Set> initial) : current_(std::move(initial)) {}

  std::shared_ptr<const Set> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void replace(std::shared_ptr<const Set> next) {
    {
      std::lock_guard lock(mutex_);
      current_.swap(next);
    }
    // `next` now holds the old set: released here, outside the lock, or by the last request
    // that still uses it.
  }

 private:
  // A mutex, not std::atomic<std::shared_ptr>: libstdc++ 12 implements that with a lock bit
  // ThreadSanitizer cannot see, and reports a race. One uncontended lock per upgrade or API
  // request costs nothing next to the request itself.
  mutable std::mutex mutex_;
  std::shared_ptr<const Set> current_;
};

/// The token key the config names, read from its file or environment variable, with the claim
/// checks of `auth`. nullopt when auth is off. Throws config::ConfigError as Credentials::load
/// does. For the server and for `heimdallr token`, which signs with the same HMAC secret.
struct TokenKeys {
  auth::VerifierOptions options;
  std::string keyName;  // the config key or environment variable it came from
};
std::optional<TokenKeys> readTokenKeys(const config::AuthConfig& auth, const std::string& source);

}  // namespace heimdallr::server
