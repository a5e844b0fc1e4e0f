#include "auth/TokenVerifier.h"

#include <Poco/Crypto/ECDSADigestEngine.h>
#include <Poco/Crypto/ECKey.h>
#include <Poco/Crypto/RSADigestEngine.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/HMACEngine.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/SHA2Engine.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "auth/ConstantTime.h"
#include "auth/JsonText.h"

namespace heimdallr::auth {

namespace {

constexpr size_t kMaxSubjectBytes = 256;

// HMACEngine needs the block and digest sizes as enums, which POCO's SHA2Engine lacks, so they are
// added here. Not Poco::Crypto::DigestEngine (what POCO's JWT Signer uses): each instance holds an
// OpenSSLInitializer, and the last one going away tears OpenSSL down, so a verify per upgrade
// re-initialised OpenSSL every time (15 us a token, most of it reading the kernel's RNG).
template <Poco::SHA2Engine::ALGORITHM kAlgorithm, int kBlock, int kDigest>
struct Sha2 : Poco::SHA2Engine {
  enum { BLOCK_SIZE = kBlock, DIGEST_SIZE = kDigest };
  Sha2() : Poco::SHA2Engine(kAlgorithm) {}
};
using Sha256 = Sha2<Poco::SHA2Engine::SHA_256, 64, 32>;
using Sha384 = Sha2<Poco::SHA2Engine::SHA_384, 128, 48>;
using Sha512 = Sha2<Poco::SHA2Engine::SHA_512, 128, 64>;

template <typename Engine>
std::string hmac(const std::string& key, std::string_view input) {
  Poco::HMACEngine<Engine> engine(key);
  engine.update(input.data(), static_cast<unsigned>(input.size()));
  const Poco::DigestEngine::Digest& digest = engine.digest();
  return std::string(digest.begin(), digest.end());
}

bool isBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

int base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  return c == '-' ? 62 : 63;
}

// RFC 7515 base64url without padding (RFC 4648 §5), canonical only: anything outside the alphabet,
// an impossible length or non-zero unused bits in the last character is an error here rather than
// something a decoder might skip (so one signature has exactly one spelling).
std::optional<std::string> decodeBase64Url(std::string_view text) {
  if (text.size() % 4 == 1 || !std::all_of(text.begin(), text.end(), isBase64UrlChar)) {
    return std::nullopt;
  }
  if (!text.empty()) {
    const int unusedBitsMask = text.size() % 4 == 2 ? 0x0f : text.size() % 4 == 3 ? 0x03 : 0;
    if (base64UrlValue(text.back()) & unusedBitsMask) return std::nullopt;
  }
  // Decoded here rather than with Poco::Base64Decoder: its stream interface took a quarter of a
  // verify, and the checks above already did everything but the bit shuffling.
  std::string bytes;
  bytes.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int held = 0;
  for (char c : text) {
    bits = (bits << 6) | static_cast<uint32_t>(base64UrlValue(c));
    held += 6;
    if (held >= 8) {
      held -= 8;
      bytes.push_back(static_cast<char>((bits >> held) & 0xff));
    }
  }
  return bytes;
}

Poco::JSON::Object::Ptr parseObject(const std::string& json) {
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(kMaxClaimDepth);
    // Not setAllowNullByte(false): POCO 1.11 implements it as a search for the six characters
    // \u0000 in the raw text, so it also refuses an escaped backslash followed by "u0000". A NUL
    // in `sub` is refused after decoding (isJsonText) instead.
    const Poco::Dynamic::Var value = parser.parse(json);
    if (value.type() != typeid(Poco::JSON::Object::Ptr)) return nullptr;
    return value.extract<Poco::JSON::Object::Ptr>();
  } catch (const std::exception&) {
    return nullptr;
  }
}

bool isString(const Poco::Dynamic::Var& value) { return value.type() == typeid(std::string); }

// A JSON number (RFC 7519 NumericDate may be fractional), as a double; nullopt otherwise.
std::optional<double> numberOf(const Poco::Dynamic::Var& value) {
  if (value.isEmpty() || value.isString() || value.isBoolean() || !value.isNumeric()) {
    return std::nullopt;
  }
  try {
    const double number = value.convert<double>();
    if (!std::isfinite(number)) return std::nullopt;
    return number;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// An array of strings (`rooms`, `pub`), or nullopt for any other shape.
std::optional<std::vector<std::string>> stringsOf(const Poco::Dynamic::Var& value) {
  if (value.type() != typeid(Poco::JSON::Array::Ptr)) return std::nullopt;
  const auto& array = *value.extract<Poco::JSON::Array::Ptr>();
  std::vector<std::string> out;
  for (size_t i = 0; i < array.size(); ++i) {
    const Poco::Dynamic::Var item = array.get(static_cast<unsigned>(i));
    if (!isString(item)) return std::nullopt;
    out.push_back(item.extract<std::string>());
  }
  return out;
}

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

TokenVerifier::TokenVerifier(const VerifierOptions& options) : options_(options) {
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
  const auto header = decodeBase64Url(token.substr(0, first));
  const auto payload = decodeBase64Url(token.substr(first + 1, second - first - 1));
  const auto signature = decodeBase64Url(token.substr(second + 1));
  if (!header || !payload || !signature) return {TokenStatus::kMalformed, {}};
  const Poco::JSON::Object::Ptr headerObject = parseObject(*header);
  // Parsed before the signature is checked, but nothing in it is believed until then.
  const Poco::JSON::Object::Ptr claims = parseObject(*payload);
  if (!headerObject || !claims) return {TokenStatus::kMalformed, {}};
  if (!headerObject->has("alg") || !isString(headerObject->get("alg"))) {
    return {TokenStatus::kMalformed, {}};
  }
  const std::string algorithm = headerObject->getValue<std::string>("alg");
  const bool known = algorithm == "HS256" || algorithm == "HS384" || algorithm == "HS512" ||
                     algorithm == "RS256" || algorithm == "RS384" || algorithm == "RS512" ||
                     algorithm == "ES256";
  if (!known || !algorithm.starts_with(family_)) return {TokenStatus::kBadAlgorithm, {}};
  // RFC 7515 §4.1.11: an extension we would have to understand; we understand none.
  if (headerObject->has("crit")) return {TokenStatus::kMalformed, {}};
  if (!signatureMatches(algorithm, token.substr(0, second), *signature)) {
    return {TokenStatus::kBadSignature, {}};
  }
  return checkClaims(*claims, nowSeconds);
}

bool TokenVerifier::signatureMatches(const std::string& algorithm, std::string_view signingInput,
                                     const std::string& signature) const {
  try {
    if (family_ == "HS") {
      std::string expected;
      if (algorithm == "HS256") {
        expected = hmac<Sha256>(options_.hmacSecret, signingInput);
      } else if (algorithm == "HS384") {
        expected = hmac<Sha384>(options_.hmacSecret, signingInput);
      } else {
        expected = hmac<Sha512>(options_.hmacSecret, signingInput);
      }
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

TokenResult TokenVerifier::checkClaims(const Poco::JSON::Object& claims, int64_t nowSeconds) const {
  TokenResult result{TokenStatus::kBadClaims, {}};
  Identity& identity = result.identity;
  try {
    if (!claims.has("sub") || !isString(claims.get("sub"))) return result;
    identity.user = claims.getValue<std::string>("sub");
    if (identity.user.empty() || identity.user.size() > kMaxSubjectBytes ||
        !isJsonText(identity.user)) {
      return result;
    }

    const double now = static_cast<double>(nowSeconds);
    const double leeway = static_cast<double>(options_.leeway.count());
    std::optional<double> exp, nbf, iat;
    for (auto [name, slot] : {std::pair{"exp", &exp}, {"nbf", &nbf}, {"iat", &iat}}) {
      if (!claims.has(name)) continue;
      *slot = numberOf(claims.get(name));
      if (!*slot) return result;
    }
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

    if (!options_.issuer.empty()) {
      if (!claims.has("iss") || !isString(claims.get("iss")) ||
          claims.getValue<std::string>("iss") != options_.issuer) {
        return result;
      }
    }
    if (!options_.audience.empty()) {
      if (!claims.has("aud")) return result;
      const Poco::Dynamic::Var aud = claims.get("aud");
      std::vector<std::string> audiences;
      if (isString(aud)) {
        audiences.push_back(aud.extract<std::string>());
      } else if (auto list = stringsOf(aud)) {
        audiences = std::move(*list);
      } else {
        return result;
      }
      if (std::find(audiences.begin(), audiences.end(), options_.audience) == audiences.end()) {
        return result;
      }
    }

    std::vector<std::string> rooms;
    if (claims.has("rooms")) {
      auto list = stringsOf(claims.get("rooms"));
      if (!list) return result;
      rooms = std::move(*list);
    }
    identity.rooms = RoomPatterns::parse(rooms);
    if (claims.has("pub")) {
      auto list = stringsOf(claims.get("pub"));
      if (!list) return result;
      identity.publish = RoomPatterns::parse(*list);
    } else {
      identity.publish = identity.rooms;
    }
    if (claims.has("info")) {
      const Poco::Dynamic::Var info = claims.get("info");
      if (info.type() != typeid(Poco::JSON::Object::Ptr)) return result;
      std::ostringstream compact;
      info.extract<Poco::JSON::Object::Ptr>()->stringify(compact);
      identity.infoJson = compact.str();
      if (!isJsonText(identity.infoJson)) return result;  // e.g. a lone "\ud800" escape
    }
  } catch (const std::exception&) {
    return {TokenStatus::kBadClaims, {}};  // an invalid room pattern, or a claim POCO refused
  }
  result.status = TokenStatus::kValid;
  return result;
}

}  // namespace heimdallr::auth
