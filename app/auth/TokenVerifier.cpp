#include "auth/TokenVerifier.h"

#include <Poco/Crypto/ECDSADigestEngine.h>
#include <Poco/Crypto/ECKey.h>
#include <Poco/Crypto/RSADigestEngine.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "auth/ClaimsReader.h"
#include "auth/ConstantTime.h"
#include "auth/HmacSha2.h"
#include "auth/JsonText.h"

namespace heimdallr::auth {

namespace {

constexpr size_t kMaxSubjectBytes = 256;

// The value of each base64url character (RFC 4648 §5), -1 for anything else.
constexpr std::array<int8_t, 256> kBase64UrlValues = [] {
  std::array<int8_t, 256> values{};
  values.fill(-1);
  const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 64; ++i)
    values[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return values;
}();

// RFC 7515 base64url without padding, canonical only: anything outside the alphabet, an
// impossible length or non-zero unused bits in the last character is an error here rather than
// something a decoder might skip (so one signature has exactly one spelling). Decoded here rather
// than with Poco::Base64Decoder: its stream interface took a quarter of a verify.
std::optional<std::string> decodeBase64Url(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string bytes;
  bytes.resize(text.size() * 3 / 4);
  size_t out = 0;
  uint32_t bits = 0;
  int held = 0;
  int value = 0;
  for (char c : text) {
    value = kBase64UrlValues[static_cast<unsigned char>(c)];
    if (value < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(value);
    held += 6;
    if (held >= 8) {
      held -= 8;
      bytes[out++] = static_cast<char>((bits >> held) & 0xff);
    }
  }
  const int unusedBitsMask = text.size() % 4 == 2 ? 0x0f : text.size() % 4 == 3 ? 0x03 : 0;
  if (value & unusedBitsMask) return std::nullopt;
  bytes.resize(out);
  return bytes;
}

Poco::JSON::Object::Ptr parseObject(const std::string& json) {
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(kMaxClaimDepth);
    // Not setAllowNullByte(false): see readClaims.
    const Poco::Dynamic::Var value = parser.parse(json);
    if (value.type() != typeid(Poco::JSON::Object::Ptr)) return nullptr;
    return value.extract<Poco::JSON::Object::Ptr>();
  } catch (const std::exception&) {
    return nullptr;
  }
}

bool isString(const Poco::Dynamic::Var& value) { return value.type() == typeid(std::string); }

template <typename Key>
Poco::SharedPtr<Key> loadPublicKey(const std::string& pem, const char* what) {
  try {
    std::istringstream in(pem);
    return new Key(&in);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("cannot load the ") + what +
                                " public key (PEM): " + e.what());
  }
}

std::string digestName(const std::string& algorithm) {
  if (algorithm.ends_with("256")) return "SHA256";
  if (algorithm.ends_with("384")) return "SHA384";
  return "SHA512";
}

}  // namespace

const char* tokenStatusName(TokenStatus status) {
  switch (status) {
    case TokenStatus::kValid:
      return "valid";
    case TokenStatus::kMissing:
      return "missing";
    case TokenStatus::kMalformed:
      return "malformed";
    case TokenStatus::kBadSignature:
      return "bad_signature";
    case TokenStatus::kBadAlgorithm:
      return "bad_algorithm";
    case TokenStatus::kExpired:
      return "expired";
    case TokenStatus::kNotYetValid:
      return "not_yet_valid";
    case TokenStatus::kBadClaims:
      return "bad_claims";
  }
  return "unknown";
}

namespace {

// Tells verifiers apart in HeaderMemo: an address can be reused by the next one after a reload.
std::atomic<uint64_t> nextVerifierId{1};

// The last header this thread accepted, and its algorithm. A token issuer writes the same header
// on every token ({"alg":"HS256","typ":"JWT"}), so this skips its decoding and parsing, a fifth
// of a verify. A pure function of the segment and the verifier's family, so it cannot change a
// verdict; the signature and claims are still checked every time.
struct HeaderMemo {
  uint64_t verifier = 0;
  std::string segment;
  std::string algorithm;
};
thread_local HeaderMemo headerMemo;

}  // namespace

TokenVerifier::TokenVerifier(const VerifierOptions& options)
    : options_(options), id_(nextVerifierId.fetch_add(1)) {
  const int keys = !options.hmacSecret.empty() + !options.rsaPublicKeyPem.empty() +
                   !options.ecPublicKeyPem.empty();
  if (keys == 0) throw std::invalid_argument("no token key is set");
  if (keys > 1) throw std::invalid_argument("only one token key may be set");
  if (!options.hmacSecret.empty()) {
    if (options.hmacSecret.size() < kMinHmacSecretBytes) {
      throw std::invalid_argument("the HMAC secret must be at least " +
                                  std::to_string(kMinHmacSecretBytes) +
                                  " bytes (e.g. openssl rand -hex 32)");
    }
    hmac_ = std::make_unique<HmacSha2>(options.hmacSecret);
    family_ = "HS";
  } else if (!options.rsaPublicKeyPem.empty()) {
    rsaKey_ = loadPublicKey<Poco::Crypto::RSAKey>(options.rsaPublicKeyPem, "RSA");
    family_ = "RS";
  } else {
    ecKey_ = loadPublicKey<Poco::Crypto::ECKey>(options.ecPublicKeyPem, "EC");
    family_ = "ES";
  }
}

TokenVerifier::~TokenVerifier() = default;

TokenResult TokenVerifier::verify(std::string_view token, int64_t nowSeconds) const {
  try {
    return verifyOrThrow(token, nowSeconds);
  } catch (...) {  // e.g. std::bad_alloc: the data path never sees an exception
    return {TokenStatus::kMalformed, {}};
  }
}

TokenResult TokenVerifier::verifyOrThrow(std::string_view token, int64_t nowSeconds) const {
  if (token.empty()) return {TokenStatus::kMissing, {}};
  if (token.size() > options_.maxTokenBytes) return {TokenStatus::kMalformed, {}};
  const size_t first = token.find('.');
  const size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos ||
      first == 0 || second == first + 1 || second + 1 == token.size()) {
    return {TokenStatus::kMalformed, {}};
  }
  const auto payload = decodeBase64Url(token.substr(first + 1, second - first - 1));
  const auto signature = decodeBase64Url(token.substr(second + 1));
  if (!payload || !signature) return {TokenStatus::kMalformed, {}};
  std::string algorithm;
  if (const TokenStatus status = checkHeader(token.substr(0, first), algorithm);
      status != TokenStatus::kValid) {
    return {status, {}};
  }
  if (!signatureMatches(algorithm, token.substr(0, second), *signature)) {
    return {TokenStatus::kBadSignature, {}};
  }
  // Only a signed payload is parsed: a forger's JSON costs us nothing. A NUL would let one key
  // pass for another (hasEscapedNul), and no claim needs one.
  if (hasEscapedNul(*payload)) return {TokenStatus::kBadClaims, {}};
  const std::optional<RawClaims> claims = readClaims(*payload, kMaxClaimDepth);
  if (!claims) return {TokenStatus::kMalformed, {}};
  return checkClaims(*claims, nowSeconds);
}

TokenStatus TokenVerifier::checkHeader(std::string_view segment, std::string& algorithm) const {
  HeaderMemo& memo = headerMemo;
  if (memo.verifier == id_ && memo.segment == segment) {
    algorithm = memo.algorithm;
    return TokenStatus::kValid;
  }
  const auto header = decodeBase64Url(segment);
  if (!header || hasEscapedNul(*header)) return TokenStatus::kMalformed;
  const Poco::JSON::Object::Ptr object = parseObject(*header);
  if (!object || !object->has("alg") || !isString(object->get("alg"))) {
    return TokenStatus::kMalformed;
  }
  algorithm = object->getValue<std::string>("alg");
  const bool known = algorithm == "HS256" || algorithm == "HS384" || algorithm == "HS512" ||
                     algorithm == "RS256" || algorithm == "RS384" || algorithm == "RS512" ||
                     algorithm == "ES256";
  if (!known || !algorithm.starts_with(family_)) return TokenStatus::kBadAlgorithm;
  // RFC 7515 §4.1.11: an extension we would have to understand; we understand none.
  if (object->has("crit")) return TokenStatus::kMalformed;
  memo.verifier = id_;
  memo.segment.assign(segment);
  memo.algorithm = algorithm;
  return TokenStatus::kValid;
}

bool TokenVerifier::signatureMatches(const std::string& algorithm, std::string_view signingInput,
                                     const std::string& signature) const {
  try {
    if (family_ == "HS") {
      const std::string expected = hmac_->sign(std::stoi(algorithm.substr(2)), signingInput);
      if (expected.empty()) return false;
      return constantTimeEquals(expected, signature);
    }
    const Poco::DigestEngine::Digest bytes(signature.begin(), signature.end());
    if (family_ == "RS") {
      Poco::Crypto::RSADigestEngine engine(*rsaKey_, digestName(algorithm));
      engine.update(signingInput.data(), static_cast<unsigned>(signingInput.size()));
      return engine.verify(bytes);
    }
    // ES256: JOSE carries R || S, 32 bytes each for P-256 (RFC 7518 §3.4); OpenSSL wants DER.
    if (bytes.size() != 64) return false;
    const Poco::Crypto::ECDSASignature raw(
        Poco::DigestEngine::Digest(bytes.begin(), bytes.begin() + 32),
        Poco::DigestEngine::Digest(bytes.begin() + 32, bytes.end()));
    Poco::Crypto::ECDSADigestEngine engine(*ecKey_, "SHA256");
    engine.update(signingInput.data(), static_cast<unsigned>(signingInput.size()));
    return engine.verify(raw.toDER());
  } catch (const std::exception&) {
    return false;
  }
}

TokenResult TokenVerifier::checkClaims(const RawClaims& claims, int64_t nowSeconds) const {
  TokenResult result{TokenStatus::kBadClaims, {}};
  Identity& identity = result.identity;
  try {
    if (!claims.sub.value) return result;
    identity.user = *claims.sub.value;
    if (identity.user.empty() || identity.user.size() > kMaxSubjectBytes ||
        !isJsonText(identity.user)) {
      return result;
    }

    if (claims.exp.wrongShape || claims.nbf.wrongShape || claims.iat.wrongShape) return result;
    const double now = static_cast<double>(nowSeconds);
    const double leeway = static_cast<double>(options_.leeway.count());
    const std::optional<double>& exp = claims.exp.value;
    const std::optional<double>& nbf = claims.nbf.value;
    const std::optional<double>& iat = claims.iat.value;
    if (exp && now > *exp + leeway) return {TokenStatus::kExpired, {}};
    if ((nbf && now < *nbf - leeway) || (iat && now < *iat - leeway)) {
      return {TokenStatus::kNotYetValid, {}};
    }
    if (exp) {
      // Clamped: a double beyond int64 must not reach the cast (undefined behaviour).
      const double ms = std::floor(*exp * 1000);
      constexpr double kLimit = 9.0e18;
      identity.expiresAtMs = ms >= kLimit    ? static_cast<int64_t>(kLimit)
                             : ms <= -kLimit ? static_cast<int64_t>(-kLimit)
                                             : static_cast<int64_t>(ms);
    }

    if (!options_.issuer.empty() && claims.iss.value != options_.issuer) return result;
    if (!options_.audience.empty()) {
      if (!claims.aud.value) return result;
      const std::vector<std::string>& audiences = *claims.aud.value;
      if (std::find(audiences.begin(), audiences.end(), options_.audience) == audiences.end()) {
        return result;
      }
    }

    if (claims.rooms.wrongShape || claims.pub.wrongShape || claims.info.wrongShape) return result;
    identity.rooms = RoomPatterns::parse(claims.rooms.value.value_or(std::vector<std::string>{}));
    identity.publish = claims.pub.value ? RoomPatterns::parse(*claims.pub.value) : identity.rooms;
    if (claims.info.value) {
      identity.infoJson = *claims.info.value;
      if (!isJsonText(identity.infoJson)) return result;  // e.g. a lone "\ud800" escape
    }
  } catch (const std::exception&) {
    return {TokenStatus::kBadClaims, {}};  // an invalid room pattern
  }
  result.status = TokenStatus::kValid;
  return result;
}

}  // namespace heimdallr::auth
