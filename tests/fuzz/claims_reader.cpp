// libFuzzer target: a token payload's claims (app/auth/ClaimsReader.h) from arbitrary bytes.
//
// Only signed payloads reach readClaims, so token_verifier (which cannot forge a signature) never
// feeds it anything interesting. This target gives it the bytes directly, and checks it against
// a reference that reads the same text the straightforward way: Poco's own ParseHandler builds
// the whole tree, and each claim is looked up in it.
// 1. readClaims never throws, crashes or trips a sanitizer.
// 2. It accepts exactly the texts the reference parses into an object.
// 3. Each claim is absent, well-shaped with the same value, or wrongly shaped, exactly as in the
//    reference (later duplicates win in both).
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "FuzzCheck.h"
#include "auth/ClaimsReader.h"
#include "auth/JsonText.h"

namespace {

using heimdallr::auth::Claim;
using heimdallr::auth::RawClaims;
using Poco::Dynamic::Var;
using Poco::JSON::Object;

bool isString(const Var& value) { return value.type() == typeid(std::string); }

Claim<std::string> stringClaim(const Object& object, const std::string& name) {
  Claim<std::string> claim;
  if (!object.has(name)) return claim;
  const Var value = object.get(name);
  if (isString(value)) {
    claim.value = value.extract<std::string>();
  } else {
    claim.wrongShape = true;
  }
  return claim;
}

Claim<double> numberClaim(const Object& object, const std::string& name) {
  Claim<double> claim;
  if (!object.has(name)) return claim;
  const Var value = object.get(name);
  if (!value.isEmpty() && !value.isString() && !value.isBoolean() && value.isNumeric() &&
      std::isfinite(value.convert<double>())) {
    claim.value = value.convert<double>();
  } else {
    claim.wrongShape = true;
  }
  return claim;
}

Claim<std::vector<std::string>> listClaim(const Object& object, const std::string& name,
                                          bool stringAllowed) {
  Claim<std::vector<std::string>> claim;
  if (!object.has(name)) return claim;
  const Var value = object.get(name);
  if (stringAllowed && isString(value)) {
    claim.value = std::vector<std::string>{value.extract<std::string>()};
    return claim;
  }
  claim.wrongShape = true;
  if (value.type() != typeid(Poco::JSON::Array::Ptr)) return claim;
  const auto& array = *value.extract<Poco::JSON::Array::Ptr>();
  std::vector<std::string> strings;
  for (unsigned i = 0; i < array.size(); ++i) {
    if (!isString(array.get(i))) return claim;
    strings.push_back(array.get(i).extract<std::string>());
  }
  claim.value = std::move(strings);
  claim.wrongShape = false;
  return claim;
}

Claim<std::string> objectClaim(const Object& object, const std::string& name) {
  Claim<std::string> claim;
  if (!object.has(name)) return claim;
  const Var value = object.get(name);
  if (value.type() != typeid(Object::Ptr)) {
    claim.wrongShape = true;
    return claim;
  }
  std::ostringstream compact;
  value.extract<Object::Ptr>()->stringify(compact);
  claim.value = compact.str();
  return claim;
}

std::optional<RawClaims> reference(const std::string& json) {
  Object::Ptr object;
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(heimdallr::auth::kMaxClaimDepth);
    const Var value = parser.parse(json);
    if (value.type() != typeid(Object::Ptr)) return std::nullopt;
    object = value.extract<Object::Ptr>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
  RawClaims claims;
  claims.sub = stringClaim(*object, "sub");
  claims.iss = stringClaim(*object, "iss");
  claims.exp = numberClaim(*object, "exp");
  claims.nbf = numberClaim(*object, "nbf");
  claims.iat = numberClaim(*object, "iat");
  claims.aud = listClaim(*object, "aud", true);
  claims.rooms = listClaim(*object, "rooms", false);
  claims.pub = listClaim(*object, "pub", false);
  claims.info = objectClaim(*object, "info");
  return claims;
}

template <typename T>
bool same(const Claim<T>& a, const Claim<T>& b) {
  return a.value == b.value && a.wrongShape == b.wrongShape;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  const std::optional<RawClaims> got =
      heimdallr::auth::readClaims(json, heimdallr::auth::kMaxClaimDepth);
  const std::optional<RawClaims> want = reference(json);
  FUZZ_CHECK(got.has_value() == want.has_value());
  if (!got) return 0;
  FUZZ_CHECK(same(got->sub, want->sub));
  FUZZ_CHECK(same(got->iss, want->iss));
  FUZZ_CHECK(same(got->exp, want->exp));
  FUZZ_CHECK(same(got->nbf, want->nbf));
  FUZZ_CHECK(same(got->iat, want->iat));
  FUZZ_CHECK(same(got->aud, want->aud));
  FUZZ_CHECK(same(got->rooms, want->rooms));
  FUZZ_CHECK(same(got->pub, want->pub));
  FUZZ_CHECK(same(got->info, want->info));
  return 0;
}
