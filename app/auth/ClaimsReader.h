#pragma once

#include <optional>
#include <string>
#include <vector>

namespace heimdallr::auth {

/// One claim as the payload spelled it: absent, of the shape the claim needs, or of another
/// shape (`wrongShape`), which only the checks that use the claim refuse.
template <typename T>
struct Claim {
  std::optional<T> value;
  bool wrongShape = false;
  bool present() const { return value.has_value() || wrongShape; }
};

/// The registered and heimdallr claims of a JWT payload, nothing else. `aud` may be a string or
/// a list of strings (RFC 7519 §4.1.3); a single string arrives as a list of one.
struct RawClaims {
  Claim<std::string> sub, iss;
  Claim<double> exp, nbf, iat;  // finite JSON numbers
  Claim<std::vector<std::string>> aud, rooms, pub;
  Claim<std::string> info;  // an object, as compact JSON (keys sorted, as POCO stringifies)
};

/// Reads `json` (a token payload) with Poco::JSON's parser and a handler that keeps only the
/// claims above, instead of building a tree of Dynamic::Var: the tree was most of a verify. Later
/// duplicates of a key win, as in a Poco::JSON::Object. Nesting is limited to `maxDepth`.
/// Returns nullopt when the text is not JSON or not an object. A pure function, thread-safe;
/// fuzzed against that tree (tests/fuzz/claims_reader).
std::optional<RawClaims> readClaims(const std::string& json, int maxDepth);

}  // namespace heimdallr::auth
