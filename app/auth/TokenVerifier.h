#pragma once

#include <Poco/SharedPtr.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "auth/Identity.h"

namespace Poco::Crypto {
class RSAKey;
class ECKey;
}  // namespace Poco::Crypto

namespace heimdallr::auth {

class HmacSha2;
struct RawClaims;

/// Why a token was refused, or that it was not.
enum class TokenStatus {
  kValid,
  kMissing,       // no token at all
  kMalformed,     // not header.payload.signature of base64url JSON objects with a string `alg`
  kBadSignature,  // the signature does not match
  kBadAlgorithm,  // `none`, or an algorithm outside the configured key's family
  kExpired,       // `exp` + leeway has passed
  kNotYetValid,   // `nbf` or `iat` in the future beyond the leeway
  kBadClaims,     // `sub` missing, `aud`/`iss` mismatch, a claim of the wrong type
};
/// A short lower_snake name: "valid", "missing", "malformed", ...
const char* tokenStatusName(TokenStatus status);

struct TokenResult {
  TokenStatus status = TokenStatus::kMissing;
  Identity identity;  // meaningful only when status is kValid
};

struct VerifierOptions {
  std::string hmacSecret;       // HS256/384/512 when set (at least kMinHmacSecretBytes)
  std::string rsaPublicKeyPem;  // RS256/384/512 when set
  std::string ecPublicKeyPem;   // ES256 when set (P-256)
  std::chrono::seconds leeway{5};
  std::string audience;  // "" = not checked; else `aud` (a string or a list) must contain it
  std::string issuer;    // "" = not checked; else `iss` must equal it
  size_t maxTokenBytes = 8192;
};

/// Verifies compact JWS tokens (RFC 7515/7519) signed with the one configured key. The signature
/// is checked before the claims are even parsed; only the key's algorithm family is accepted, so
/// `alg: none` and algorithm confusion (an RS token re-signed as HS with the public key) fail.
/// HMAC signatures are computed with OpenSSL (HmacSha2) and compared in constant time (POCO's JWT
/// Signer compares them with ==); RS and ES go through POCO Crypto (OpenSSL).
///
/// Thread-safe once constructed: verify() is const and many loop threads call it at once.
class TokenVerifier {
 public:
  static constexpr size_t kMinHmacSecretBytes = 32;

  /// Throws std::invalid_argument when no key or more than one is set, when the HMAC secret is
  /// shorter than kMinHmacSecretBytes, or when a PEM does not load.
  explicit TokenVerifier(const VerifierOptions& options);
  ~TokenVerifier();
  TokenVerifier(const TokenVerifier&) = delete;
  TokenVerifier& operator=(const TokenVerifier&) = delete;

  /// `nowSeconds` is the wall clock in epoch seconds. Never throws.
  TokenResult verify(std::string_view token, int64_t nowSeconds) const;

  /// "HS", "RS" or "ES": the family the configured key accepts.
  const std::string& family() const { return family_; }

 private:
  TokenResult verifyOrThrow(std::string_view token, int64_t nowSeconds) const;
  /// Decodes and checks the header segment; kValid with `algorithm` set, or why not.
  TokenStatus checkHeader(std::string_view segment, std::string& algorithm) const;
  bool signatureMatches(const std::string& algorithm, std::string_view signingInput,
                        const std::string& signature) const;
  TokenResult checkClaims(const RawClaims& claims, int64_t nowSeconds) const;

  VerifierOptions options_;
  uint64_t id_;  // unique per verifier, for the per-thread header memo
  std::string family_;
  std::unique_ptr<HmacSha2> hmac_;  // when family_ is "HS"
  Poco::SharedPtr<Poco::Crypto::RSAKey> rsaKey_;
  Poco::SharedPtr<Poco::Crypto::ECKey> ecKey_;
};

}  // namespace heimdallr::auth
