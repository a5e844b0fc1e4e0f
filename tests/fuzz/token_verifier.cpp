// libFuzzer target: JWT verification (app/auth/TokenVerifier.h) on arbitrary bytes.
//
// The first byte picks the mode (even: raw, odd: minted), so seeds are plain files.
//
// raw: the rest is a token for a shared HS256-family verifier and a shared ES256 one.
// 1. verify() never throws, crashes or trips a sanitizer, and gives the same answer twice.
// 2. kValid from the HMAC verifier only when the signature segment really is the base64url
//    HMAC-SHA256/384/512 of header.payload under the secret, recomputed here with OpenSSL (not
//    with the code under test); and then sub is 1..256 bytes.
//    sub is UTF-8 without NUL (checked with the WebSocket layer's validator, not the verifier's).
// 3. Never kValid from the ES256 verifier: no private key for its public key exists anywhere.
//
// minted: the rest (through FuzzedDataProvider) fills the claims of a token minted with
// mintToken() and the secret, and the verification time.
// 4. mintToken refuses a user that is not UTF-8 without NUL, and mints every other request.
// 5. It verifies to exactly the status its claims and the time imply (kValid, kExpired,
//    kNotYetValid for a future iat, kBadClaims for a sub over 256 bytes), and when kValid it
//    round-trips sub, rooms, pub and exp.
// 6. The token with any one byte changed, or cut short, is never kValid: base64url is decoded
//    canonically, so every other spelling changes the signed bytes or the signature.
#include <fuzzer/FuzzedDataProvider.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "auth/TokenMinter.h"
#include "auth/TokenVerifier.h"
#include "ws/Utf8Validator.h"

namespace {

using heimdallr::auth::MintRequest;
using heimdallr::auth::mintToken;
using heimdallr::auth::TokenResult;
using heimdallr::auth::TokenStatus;
using heimdallr::auth::tokenStatusName;
using heimdallr::auth::TokenVerifier;
using heimdallr::auth::VerifierOptions;

// The seeds in tests/fuzz/corpus/token_verifier/ were signed with this secret at kNow.
constexpr std::string_view kSecret = "fuzzing-secret-that-is-long-enough-32";
constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kLeeway = 5;

// A fixed P-256 public key: no private key for it is anywhere in the tree.
constexpr const char* kEcPublicPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEK6e511LAnZRlPGCLYD9TqyImOql\n"
    "nVRsRmYoUA4ueNB0R7FJwKUoMS3c6JVYcPQygPJVZJ7dTo/wJtGY9r4jcA==\n"
    "-----END PUBLIC KEY-----\n";

// Built once (a bad key throws at start-up, which libFuzzer reports loudly).
const TokenVerifier& hmacVerifier() {
  static const std::unique_ptr<TokenVerifier> verifier = [] {
    VerifierOptions options;
    options.hmacSecret = std::string(kSecret);
    options.leeway = std::chrono::seconds(kLeeway);
    return std::make_unique<TokenVerifier>(options);
  }();
  return *verifier;
}

const TokenVerifier& ecVerifier() {
  static const std::unique_ptr<TokenVerifier> verifier = [] {
    VerifierOptions options;
    options.ecPublicKeyPem = kEcPublicPem;
    return std::make_unique<TokenVerifier>(options);
  }();
  return *verifier;
}

std::string base64Url(const unsigned char* bytes, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (size_t i = 0; i < size; ++i) {
    bits = (bits << 8) | bytes[i];
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += kAlphabet[(bits >> count) & 63];
    }
  }
  if (count > 0) out += kAlphabet[(bits << (6 - count)) & 63];
  return out;
}

// Whether `token` is header.payload.signature with signature = base64url(HMAC-SHA2(secret,
// header.payload)) for one of the three digests: what a kValid from the HMAC verifier must mean.
bool reallySignedWithTheSecret(std::string_view token) {
  const size_t last = token.rfind('.');
  if (last == std::string_view::npos) return false;
  const std::string_view input = token.substr(0, last);
  const std::string_view signature = token.substr(last + 1);
  for (const EVP_MD* md : {EVP_sha256(), EVP_sha384(), EVP_sha512()}) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(md, kSecret.data(), static_cast<int>(kSecret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
    if (base64Url(mac, length) == signature) return true;
  }
  return false;
}

bool isText(std::string_view text) {
  return heimdallr::ws::Utf8Validator::isValid(text) && text.find('\0') == std::string_view::npos;
}

void checkRaw(std::string_view token) {
  const TokenResult hs = hmacVerifier().verify(token, kNow);
  FUZZ_CHECK(tokenStatusName(hs.status) != nullptr);
  FUZZ_CHECK(hmacVerifier().verify(token, kNow).status == hs.status);
  if (hs.status == TokenStatus::kValid) {
    FUZZ_CHECK(reallySignedWithTheSecret(token));
    FUZZ_CHECK(!hs.identity.user.empty() && hs.identity.user.size() <= 256);
    FUZZ_CHECK(isText(hs.identity.user));
  }
  FUZZ_CHECK(ecVerifier().verify(token, kNow).status != TokenStatus::kValid);
}

// A room pattern that RoomPatterns accepts: 1..8 room-id characters, maybe a '*'; or "*".
std::string roomPattern(FuzzedDataProvider& input) {
  static constexpr std::string_view kChars = "abcXYZ019_-";
  if (input.ConsumeIntegralInRange<int>(0, 15) == 0) return "*";
  std::string room(input.ConsumeIntegralInRange<size_t>(1, 8), 'a');
  for (char& c : room) c = kChars[input.ConsumeIntegralInRange<size_t>(0, kChars.size() - 1)];
  if (input.ConsumeBool()) room += '*';
  return room;
}

std::vector<std::string> roomPatterns(FuzzedDataProvider& input) {
  std::vector<std::string> rooms(input.ConsumeIntegralInRange<size_t>(0, 4));
  for (std::string& room : rooms) room = roomPattern(input);
  return rooms;
}

void checkMinted(FuzzedDataProvider& input) {
  MintRequest request;
  request.nowSeconds = kNow;
  request.rooms = roomPatterns(input);
  if (input.ConsumeBool()) request.publish = roomPatterns(input);
  request.ttl = std::chrono::seconds(input.ConsumeIntegralInRange<int64_t>(0, 100'000));
  const int64_t now = kNow + input.ConsumeIntegralInRange<int64_t>(-20, 200'000);
  static constexpr const char* kAlgorithms[] = {"HS256", "HS384", "HS512"};
  const std::string algorithm = kAlgorithms[input.ConsumeIntegralInRange<size_t>(0, 2)];
  request.user = input.ConsumeRandomLengthString(300);
  if (request.user.empty()) request.user = "u";

  std::string token;
  try {
    token = mintToken(request, algorithm, std::string(kSecret));
  } catch (const std::invalid_argument&) {
    FUZZ_CHECK(!isText(request.user));
    return;
  }
  FUZZ_CHECK(isText(request.user));

  TokenStatus expected = TokenStatus::kValid;
  if (request.user.size() > 256) {
    expected = TokenStatus::kBadClaims;
  } else if (request.ttl.count() > 0 && now > kNow + request.ttl.count() + kLeeway) {
    expected = TokenStatus::kExpired;
  } else if (now < kNow - kLeeway) {
    expected = TokenStatus::kNotYetValid;  // iat in the future
  }
  const TokenResult result = hmacVerifier().verify(token, now);
  if (result.status != expected) {
    std::fprintf(stderr, "token %s: %s, expected %s\n", token.c_str(),
                 tokenStatusName(result.status), tokenStatusName(expected));
  }
  FUZZ_CHECK(result.status == expected);
  if (result.status == TokenStatus::kValid) {
    FUZZ_CHECK(result.identity.user == request.user);
    FUZZ_CHECK(result.identity.rooms.entries() == request.rooms);
    FUZZ_CHECK(result.identity.publish.entries() == request.publish.value_or(request.rooms));
    FUZZ_CHECK(result.identity.expiresAtMs ==
               (request.ttl.count() > 0 ? (kNow + request.ttl.count()) * 1000 : 0));
    FUZZ_CHECK(result.identity.infoJson.empty());
  }

  std::string changed = token;
  const size_t at = input.ConsumeIntegralInRange<size_t>(0, changed.size() - 1);
  changed[at] = static_cast<char>(changed[at] ^ input.ConsumeIntegralInRange<int>(1, 255));
  FUZZ_CHECK(hmacVerifier().verify(changed, now).status != TokenStatus::kValid);
  const size_t cut = input.ConsumeIntegralInRange<size_t>(0, token.size() - 1);
  FUZZ_CHECK(hmacVerifier().verify(std::string_view(token).substr(0, cut), now).status !=
             TokenStatus::kValid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 1) == 0) {
    checkRaw(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  } else {
    FuzzedDataProvider input(data + 1, size - 1);
    checkMinted(input);
  }
  return 0;
}
