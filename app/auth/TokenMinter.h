#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace heimdallr::auth {

/// What a minted token says.
struct MintRequest {
  std::string user;                                 // sub
  std::vector<std::string> rooms;                   // rooms
  std::optional<std::vector<std::string>> publish;  // pub, only when given
  std::string infoJson;                             // info: "" = none, else a JSON object
  std::chrono::seconds ttl{3600};                   // exp = now + ttl; 0 = no exp
  std::string audience;                             // aud, when not ""
  std::string issuer;                               // iss, when not ""
  int64_t nowSeconds = 0;                           // iat
};

/// A compact JWS signed with Poco::JWT::Signer, for `heimdallr token` and the tests. `algorithm`
/// is HS256/384/512 (key = the HMAC secret), RS256/384/512 or ES256 (key = a PEM private key).
/// Throws std::invalid_argument on an unknown algorithm, an unusable key, an invalid room pattern,
/// an `info` that is not a JSON object, an empty user, or a user, audience or issuer that is not
/// UTF-8 without NUL (see JsonText.h). Thread-safe (pure).
std::string mintToken(const MintRequest& request, const std::string& algorithm,
                      const std::string& key);

/// "90", "90s", "15m", "1h", "2d" as seconds; "0" is no expiry. Throws std::invalid_argument
/// for anything else, and beyond 366 days.
std::chrono::seconds parseTtl(std::string_view text);

}  // namespace heimdallr::auth
