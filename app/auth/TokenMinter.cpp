#include "auth/TokenMinter.h"

#include <Poco/Crypto/ECKey.h>
#include <Poco/Crypto/RSAKey.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>

#include <charconv>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "auth/JsonText.h"
#include "auth/RoomPatterns.h"

namespace heimdallr::auth {

namespace {

void requireJsonText(const std::string& text, const char* what) {
  if (!isJsonText(text))
    throw std::invalid_argument(std::string(what) + " must be UTF-8 without NUL");
}

Poco::JSON::Array::Ptr arrayOf(const std::vector<std::string>& entries) {
  RoomPatterns::parse(entries);  // throws on an invalid pattern
  Poco::JSON::Array::Ptr array = new Poco::JSON::Array;
  for (const auto& entry : entries) array->add(entry);
  return array;
}
}  // namespace

std::string mintToken(const MintRequest& request, const std::string& algorithm,
                      const std::string& key) {
  if (request.user.empty()) throw std::invalid_argument("the user (sub) must not be empty");
  requireJsonText(request.user, "the user (sub)");
  requireJsonText(request.audience, "the audience (aud)");
  requireJsonText(request.issuer, "the issuer (iss)");
  Poco::JWT::Token token;
  token.setType("JWT");
  Poco::JSON::Object& claims = token.payload();
  claims.set("sub", request.user);
  claims.set("rooms", arrayOf(request.rooms));
  if (request.publish) claims.set("pub", arrayOf(*request.publish));
  if (!request.infoJson.empty()) {
    // The verifier refuses any NUL in a token (hasEscapedNul), so the minter does too.
    if (hasEscapedNul(request.infoJson) || request.infoJson.find('\0') != std::string::npos) {
      throw std::invalid_argument("info must not hold a NUL (\\u0000)");
    }
    Poco::Dynamic::Var info;
    try {
      Poco::JSON::Parser parser;
      parser.setDepth(kMaxClaimDepth - 1);  // info sits one level inside the payload
      info = parser.parse(request.infoJson);
    } catch (const std::exception&) {
      throw std::invalid_argument("info must be a JSON object");
    }
    if (info.type() != typeid(Poco::JSON::Object::Ptr)) {
      throw std::invalid_argument("info must be a JSON object");
    }
    claims.set("info", info);
  }
  claims.set("iat", static_cast<Poco::Int64>(request.nowSeconds));
  if (request.ttl.count() > 0) {
    claims.set("exp", static_cast<Poco::Int64>(request.nowSeconds + request.ttl.count()));
  }
  if (!request.audience.empty()) claims.set("aud", request.audience);
  if (!request.issuer.empty()) claims.set("iss", request.issuer);

  try {
    Poco::JWT::Signer signer;
    if (algorithm == "HS256" || algorithm == "HS384" || algorithm == "HS512") {
      if (key.empty()) throw std::invalid_argument("the HMAC secret must not be empty");
      signer.setHMACKey(key);
    } else if (algorithm == "RS256" || algorithm == "RS384" || algorithm == "RS512") {
      std::istringstream pem(key);
      signer.setRSAKey(new Poco::Crypto::RSAKey(nullptr, &pem));
    } else if (algorithm == "ES256") {
      std::istringstream pem(key);
      signer.setECKey(new Poco::Crypto::ECKey(nullptr, &pem));
    } else {
      throw std::invalid_argument("unknown algorithm \"" + algorithm +
                                  "\" (HS256, HS384, HS512, RS256, RS384, RS512 or ES256)");
    }
    signer.setAlgorithms({algorithm});
    return signer.sign(token, algorithm);
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw std::invalid_argument("cannot sign with this key (" + algorithm + "): " + e.what());
  }
}

std::chrono::seconds parseTtl(std::string_view text) {
  constexpr int64_t kMaxSeconds = 366LL * 24 * 3600;
  int64_t unit = 1;
  std::string_view digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's':
        digits.remove_suffix(1);
        break;
      case 'm':
        unit = 60;
        digits.remove_suffix(1);
        break;
      case 'h':
        unit = 3600;
        digits.remove_suffix(1);
        break;
      case 'd':
        unit = 86400;
        digits.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value < 0 ||
      value > kMaxSeconds / unit) {
    throw std::invalid_argument(
        "--ttl: expected e.g. 90s, 15m, 1h or 2d (at most 366 days), got \"" +
        std::string(text.substr(0, 32)) + "\"");
  }
  return std::chrono::seconds(value * unit);
}

}  // namespace heimdallr::auth
