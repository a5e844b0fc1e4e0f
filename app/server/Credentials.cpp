#include "server/Credentials.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "config/ConfigError.h"

namespace heimdallr::server {

namespace {

constexpr size_t kMinApiKeyBytes = 16;
constexpr size_t kMaxSecretFileBytes = 64 * 1024;

// Where one secret comes from, for error messages: a config key or an environment variable.
struct SecretSource {
  std::string name;
  std::string value;
};

// A secret file's contents without the trailing newline an editor adds; a key that ends in
// whitespace on purpose is not worth the surprise it would give everyone else.
std::string readSecretFile(const std::string& source, const std::string& key,
                           const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    throw config::ConfigError(source, key, "cannot open \"" + path + "\": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string value = text.str();
  if (in.bad() || value.size() > kMaxSecretFileBytes) {
    throw config::ConfigError(source, key,
                              "cannot read \"" + path + "\" (at most 64 KiB of key material)");
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) throw config::ConfigError(source, key, "\"" + path + "\" is empty");
  return value;
}

std::optional<SecretSource> fromFile(const std::string& source, const std::string& key,
                                     const std::string& path) {
  if (path.empty()) return std::nullopt;
  return SecretSource{key, readSecretFile(source, key, path)};
}

std::optional<SecretSource> fromEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return SecretSource{name, value};
}

// One secret may come from a file or from the environment, never both: which would win is a
// guess an operator should not have to make.
std::optional<SecretSource> either(const std::string& source, std::optional<SecretSource> file,
                                   std::optional<SecretSource> env) {
  if (file && env) {
    throw config::ConfigError(source, file->name,
                              "set either " + file->name + " or " + env->name + ", not both");
  }
  return file ? file : env;
}

std::shared_ptr<const auth::TokenVerifier> loadVerifier(const config::AuthConfig& auth,
                                                        const std::string& source) {
  std::optional<TokenKeys> keys = readTokenKeys(auth, source);
  if (!keys) return nullptr;
  try {
    return std::make_shared<const auth::TokenVerifier>(keys->options);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(source, keys->keyName, e.what());
  }
}

std::string loadApiKey(const config::ApiConfig& api, const std::string& source) {
  auto key = either(source, fromFile(source, "api.key_file", api.keyFile),
                    fromEnv(Credentials::kApiKeyEnv));
  if (!key) return {};
  if (key->value.size() < kMinApiKeyBytes) {
    throw config::ConfigError(source, key->name,
                              "the API key must be at least " + std::to_string(kMinApiKeyBytes) +
                                  " bytes (e.g. openssl rand -hex 32)");
  }
  return key->value;
}

}  // namespace

std::optional<TokenKeys> readTokenKeys(const config::AuthConfig& auth, const std::string& source) {
  std::vector<SecretSource> keys;
  auto hmac = either(source, fromFile(source, "auth.hmac_secret_file", auth.hmacSecretFile),
                     fromEnv(Credentials::kHmacSecretEnv));
  TokenKeys result;
  if (hmac) {
    result.options.hmacSecret = hmac->value;
    keys.push_back(*hmac);
  }
  if (auto rsa = fromFile(source, "auth.rsa_public_key_file", auth.rsaPublicKeyFile)) {
    result.options.rsaPublicKeyPem = rsa->value;
    keys.push_back(*rsa);
  }
  if (auto ec = fromFile(source, "auth.ec_public_key_file", auth.ecPublicKeyFile)) {
    result.options.ecPublicKeyPem = ec->value;
    keys.push_back(*ec);
  }
  if (!auth.enabled) {
    // A key with auth off is almost certainly a forgotten `enabled: true`: an open server that
    // the operator believes closed. Refuse rather than guess.
    if (!keys.empty()) {
      throw config::ConfigError(source, keys.front().name,
                                "a token key is set but auth.enabled is false; set "
                                "auth.enabled: true, or remove the key");
    }
    return std::nullopt;
  }
  if (keys.empty()) {
    throw config::ConfigError(source, "auth.enabled",
                              "auth is on but no key is set: set one of auth.hmac_secret_file, " +
                                  std::string(Credentials::kHmacSecretEnv) +
                                  ", auth.rsa_public_key_file or auth.ec_public_key_file");
  }
  if (keys.size() > 1) {
    throw config::ConfigError(source, keys[1].name,
                              "only one token key may be set (" + keys[0].name +
                                  " is set too): a node accepts one algorithm family");
  }
  result.keyName = keys.front().name;
  result.options.leeway = auth.leeway;
  result.options.audience = auth.audience;
  result.options.issuer = auth.issuer;
  return result;
}

std::shared_ptr<const Credentials::Set> Credentials::load(const config::Config& config,
                                                          const std::string& source) {
  auto set = std::make_shared<Set>();
  set->verifier = loadVerifier(config.auth, source);
  set->apiKey = loadApiKey(config.api, source);
  return set;
}

}  // namespace heimdallr::server
