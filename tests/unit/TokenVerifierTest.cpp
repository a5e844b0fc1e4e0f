#include <Poco/Crypto/ECKey.h>
#include <Poco/Crypto/RSAKey.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "auth/TokenMinter.h"
#include "auth/TokenVerifier.h"

using heimdallr::auth::MintRequest;
using heimdallr::auth::mintToken;
using heimdallr::auth::TokenResult;
using heimdallr::auth::TokenStatus;
using heimdallr::auth::tokenStatusName;
using heimdallr::auth::TokenVerifier;
using heimdallr::auth::VerifierOptions;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";  // exactly 32 bytes
constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kLeeway = 5;

// A base64url encoder of our own (no padding), independent of the code under test.
std::string b64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (bytes.size() - i == 1) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    for (int shift : {18, 12, 6}) out += kAlphabet[(v >> shift) & 63];
  }
  return out;
}

// header.payload signed with HMAC straight through OpenSSL (not through the code under test).
std::string hsToken(const std::string& headerJson, const std::string& payloadJson,
                    const std::string& secret = kSecret) {
  const std::string input = b64url(headerJson) + "." + b64url(payloadJson);
  const EVP_MD* md = headerJson.find("HS384") != std::string::npos   ? EVP_sha384()
                     : headerJson.find("HS512") != std::string::npos ? EVP_sha512()
                                                                     : EVP_sha256();
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(md, secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return input + "." + b64url(std::string(reinterpret_cast<char*>(mac), length));
}

std::string hs256(const std::string& payloadJson) {
  return hsToken(R"({"alg":"HS256","typ":"JWT"})", payloadJson);
}

VerifierOptions hmacOptions() {
  VerifierOptions options;
  options.hmacSecret = kSecret;
  options.leeway = std::chrono::seconds(kLeeway);
  return options;
}

TokenStatus hsStatus(const std::string& token, int64_t now = kNow,
                     const VerifierOptions& options = hmacOptions()) {
  return TokenVerifier(options).verify(token, now).status;
}

MintRequest mintRequest() {
  MintRequest r;
  r.user = "alice";
  r.rooms = {"team-*", "42"};
  r.publish = std::vector<std::string>{"42"};
  r.infoJson = R"({"name":"Alice"})";
  r.nowSeconds = kNow;
  return r;
}

struct PemPair {
  std::string publicPem;
  std::string privatePem;
};

template <typename Key>
PemPair pemsOf(const Key& key) {
  std::ostringstream pub, priv;
  key.save(&pub, &priv);
  return {pub.str(), priv.str()};
}

// Generated once per run: a 2048-bit RSA key takes a moment.
const PemPair& rsaKeys() {
  static const PemPair keys =
      pemsOf(Poco::Crypto::RSAKey(Poco::Crypto::RSAKey::KL_2048, Poco::Crypto::RSAKey::EXP_LARGE));
  return keys;
}

const PemPair& ecKeys() {
  static const PemPair keys = pemsOf(Poco::Crypto::ECKey("prime256v1"));
  return keys;
}

// A test-only P-256 key pair and an ES256 token made with node's crypto (ieee-p1363 encoding):
// {"alg":"ES256","typ":"JWT"}
// {"sub":"bob","rooms":["*"],"pub":[],"iat":1700000000,"exp":1700003600}
const char kNodeEcPublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBMUghGVihWpd4JqEuFrynDl45mk5
wAemQhkVoosS+3xM0UC6J2mtQ7Q1xUO6mvi7XUg/6XuUwI1aH/CaEDbLeg==
-----END PUBLIC KEY-----
)";
const char kNodeEs256Token[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJib2IiLCJyb29tcyI6WyIqIl0sInB1YiI6W10sImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNj"
    "AwfQ.0cUCgCxuFtF7efUUXJOB1pWx76hR92H6-UGFkx7THDJsk5m9ZMuVdtRkXRe7HPdGRvD9kLWR8JjjGFHcbVs7MA";

std::string signatureOf(const std::string& token) { return token.substr(token.rfind('.') + 1); }
std::string withSignature(const std::string& token, const std::string& signature) {
  return token.substr(0, token.rfind('.') + 1) + signature;
}

}  // namespace

// --- proven against tokens we did not mint ---------------------------------------------------

TEST(TokenVerifier, accepts_an_hs256_token_minted_by_node_crypto) {
  // node -e: createHmac("sha256", secret).update(b64url(header) + "." + b64url(payload))
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiJhbGljZSIsInJvb21zIjpbInRlYW0tKiIsIjQyIl0sInB1YiI6WyI0MiJdLCJpbmZvIjp7Im5hbWUiOi"
      "JBbGljZSIsIm4iOjF9LCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMCwiYXVkIjpbImNoYXQiLCJvdGhl"
      "ciJdLCJpc3MiOiJub2RlLXRlc3QifQ.MJ68puJxN7JGJtUoIh22HWOujZTl6MDeA1IMJSSU-Is";
  VerifierOptions options;
  options.hmacSecret = "independent-node-secret-0123456789abcdef";
  options.audience = "chat";
  options.issuer = "node-test";
  const TokenVerifier verifier(options);
  const TokenResult result = verifier.verify(token, 1'700'000'100);
  ASSERT_EQ(result.status, TokenStatus::kValid) << tokenStatusName(result.status);
  EXPECT_EQ(result.identity.user, "alice");
  EXPECT_TRUE(result.identity.rooms.matches("team-blue"));
  EXPECT_TRUE(result.identity.rooms.matches("42"));
  EXPECT_FALSE(result.identity.rooms.matches("43"));
  EXPECT_TRUE(result.identity.publish.matches("42"));
  EXPECT_FALSE(result.identity.publish.matches("team-blue"));
  EXPECT_EQ(result.identity.infoJson, R"({"n":1,"name":"Alice"})");
  EXPECT_EQ(result.identity.expiresAtMs, 1'700'003'600'000);
  EXPECT_EQ(verifier.verify(token, 1'700'003'606).status, TokenStatus::kExpired);
  options.hmacSecret = "independent-node-secret-0123456789abcdeF";
  EXPECT_EQ(TokenVerifier(options).verify(token, 1'700'000'100).status, TokenStatus::kBadSignature);
}

TEST(TokenVerifier, accepts_an_es256_token_signed_by_node_crypto) {
  VerifierOptions options;
  options.ecPublicKeyPem = kNodeEcPublicPem;
  const TokenVerifier verifier(options);
  EXPECT_EQ(verifier.family(), "ES");
  const TokenResult result = verifier.verify(kNodeEs256Token, 1'700'000'100);
  ASSERT_EQ(result.status, TokenStatus::kValid) << tokenStatusName(result.status);
  EXPECT_EQ(result.identity.user, "bob");
  EXPECT_TRUE(result.identity.rooms.matches("anything"));
  EXPECT_TRUE(result.identity.publish.empty());  // `pub: []` is read only
}

// --- round trips -------------------------------------------------------------------------------

TEST(TokenVerifier, hmac_round_trip_for_hs256_hs384_hs512) {
  const TokenVerifier verifier(hmacOptions());
  EXPECT_EQ(verifier.family(), "HS");
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    const std::string token = mintToken(mintRequest(), alg, kSecret);
    const TokenResult result = verifier.verify(token, kNow);
    ASSERT_EQ(result.status, TokenStatus::kValid) << alg << " " << tokenStatusName(result.status);
    EXPECT_EQ(result.identity.user, "alice");
    EXPECT_EQ(result.identity.rooms.entries(), (std::vector<std::string>{"team-*", "42"}));
    EXPECT_EQ(result.identity.publish.entries(), std::vector<std::string>{"42"});
    EXPECT_EQ(result.identity.infoJson, R"({"name":"Alice"})");
    EXPECT_EQ(result.identity.expiresAtMs, (kNow + 3600) * 1000);
    // A token HMAC'd by OpenSSL directly (not by the code under test) verifies too.
    const std::string header = R"({"alg":")" + std::string(alg) + R"(","typ":"JWT"})";
    EXPECT_EQ(verifier.verify(hsToken(header, R"({"sub":"x"})"), kNow).status, TokenStatus::kValid)
        << alg;
  }
}

TEST(TokenVerifier, rsa_round_trip_for_rs256_rs384_rs512) {
  VerifierOptions options;
  options.rsaPublicKeyPem = rsaKeys().publicPem;
  const TokenVerifier verifier(options);
  EXPECT_EQ(verifier.family(), "RS");
  for (const char* alg : {"RS256", "RS384", "RS512"}) {
    const std::string token = mintToken(mintRequest(), alg, rsaKeys().privatePem);
    const TokenResult result = verifier.verify(token, kNow);
    ASSERT_EQ(result.status, TokenStatus::kValid) << alg << " " << tokenStatusName(result.status);
    EXPECT_EQ(result.identity.user, "alice");
    EXPECT_TRUE(result.identity.publish.matches("42"));
  }
}

TEST(TokenVerifier, rsa_refuses_a_token_signed_by_another_rsa_key) {
  const PemPair other =
      pemsOf(Poco::Crypto::RSAKey(Poco::Crypto::RSAKey::KL_2048, Poco::Crypto::RSAKey::EXP_LARGE));
  VerifierOptions options;
  options.rsaPublicKeyPem = rsaKeys().publicPem;
  EXPECT_EQ(TokenVerifier(options)
                .verify(mintToken(mintRequest(), "RS256", other.privatePem), kNow)
                .status,
            TokenStatus::kBadSignature);
}

TEST(TokenVerifier, rsa_refuses_a_token_signed_with_another_digest) {
  VerifierOptions options;
  options.rsaPublicKeyPem = rsaKeys().publicPem;
  const std::string rs512 = mintToken(mintRequest(), "RS512", rsaKeys().privatePem);
  const std::string rs256 = mintToken(mintRequest(), "RS256", rsaKeys().privatePem);
  // RS256's header with RS512's signature.
  const std::string mixed = rs256.substr(0, rs256.rfind('.') + 1) + signatureOf(rs512);
  EXPECT_EQ(TokenVerifier(options).verify(mixed, kNow).status, TokenStatus::kBadSignature);
}

TEST(TokenVerifier, es256_round_trip_on_many_signatures) {
  // Many: a P-256 R or S has a leading zero byte about once in 128 signatures; the JOSE form
  // must still be 64 bytes both ways.
  VerifierOptions options;
  options.ecPublicKeyPem = ecKeys().publicPem;
  const TokenVerifier verifier(options);
  MintRequest request = mintRequest();
  for (int i = 0; i < 400; ++i) {
    request.user = "user" + std::to_string(i);
    const std::string token = mintToken(request, "ES256", ecKeys().privatePem);
    ASSERT_EQ(signatureOf(token).size(), 86u) << i << " " << token;  // 64 bytes
    const TokenResult result = verifier.verify(token, kNow);
    ASSERT_EQ(result.status, TokenStatus::kValid) << i << " " << tokenStatusName(result.status);
    ASSERT_EQ(result.identity.user, request.user);
  }
}

TEST(TokenVerifier, es256_refuses_signatures_of_the_wrong_length) {
  VerifierOptions options;
  options.ecPublicKeyPem = ecKeys().publicPem;
  const TokenVerifier verifier(options);
  const std::string token = mintToken(mintRequest(), "ES256", ecKeys().privatePem);
  ASSERT_EQ(verifier.verify(token, kNow).status, TokenStatus::kValid);
  // 64 bytes of the right length but not a signature; then other lengths.
  const std::string raw(64, '\x01');
  for (size_t length : {1u, 32u, 63u, 65u, 72u, 128u}) {
    EXPECT_EQ(
        verifier.verify(withSignature(token, b64url(std::string(length, '\x7f'))), kNow).status,
        TokenStatus::kBadSignature)
        << length;
  }
  EXPECT_EQ(verifier.verify(withSignature(token, b64url(raw)), kNow).status,
            TokenStatus::kBadSignature);
  // The real signature with a byte appended or its last one dropped.
  const std::string sig = signatureOf(token);
  EXPECT_EQ(verifier.verify(withSignature(token, sig.substr(0, 84)), kNow).status,
            TokenStatus::kBadSignature);                                              // 63 bytes
  EXPECT_EQ(verifier.verify(token + "AA", kNow).status, TokenStatus::kBadSignature);  // 66 bytes
}

TEST(TokenVerifier, es256_refuses_a_token_signed_by_another_ec_key) {
  VerifierOptions options;
  options.ecPublicKeyPem = ecKeys().publicPem;
  const PemPair other = pemsOf(Poco::Crypto::ECKey("prime256v1"));
  EXPECT_EQ(TokenVerifier(options)
                .verify(mintToken(mintRequest(), "ES256", other.privatePem), kNow)
                .status,
            TokenStatus::kBadSignature);
}

// --- algorithms ----------------------------------------------------------------------------------

TEST(TokenVerifier, refuses_alg_none) {
  const std::string payload = b64url(R"({"sub":"mallory","rooms":["*"]})");
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    const std::string header = b64url(R"({"alg":")" + std::string(alg) + R"("})");
    // With some signature bytes: the algorithm is refused.
    EXPECT_EQ(hsStatus(header + "." + payload + ".AAAA"), TokenStatus::kBadAlgorithm) << alg;
    // RFC 7519's unsecured form has an empty signature, which is malformed here.
    EXPECT_EQ(hsStatus(header + "." + payload + "."), TokenStatus::kMalformed) << alg;
  }
}

TEST(TokenVerifier, refuses_hs256_signed_with_the_rsa_public_key_pem_as_algorithm_confusion) {
  VerifierOptions options;
  options.rsaPublicKeyPem = rsaKeys().publicPem;
  const TokenVerifier verifier(options);
  const std::string forged = hsToken(R"({"alg":"HS256","typ":"JWT"})",
                                     R"({"sub":"mallory","rooms":["*"]})", rsaKeys().publicPem);
  EXPECT_EQ(verifier.verify(forged, kNow).status, TokenStatus::kBadAlgorithm);
  MintRequest request = mintRequest();
  EXPECT_EQ(verifier.verify(mintToken(request, "HS256", rsaKeys().publicPem), kNow).status,
            TokenStatus::kBadAlgorithm);
}

TEST(TokenVerifier, refuses_rs256_against_an_hmac_secret_even_if_the_secret_is_the_rsa_pem) {
  VerifierOptions options;
  options.hmacSecret = rsaKeys().publicPem;
  const TokenVerifier verifier(options);
  EXPECT_EQ(verifier.verify(mintToken(mintRequest(), "RS256", rsaKeys().privatePem), kNow).status,
            TokenStatus::kBadAlgorithm);
  EXPECT_EQ(verifier.verify(mintToken(mintRequest(), "ES256", ecKeys().privatePem), kNow).status,
            TokenStatus::kBadAlgorithm);
}

TEST(TokenVerifier, refuses_es256_against_an_rsa_key_and_rs256_against_an_ec_key) {
  VerifierOptions rsa;
  rsa.rsaPublicKeyPem = rsaKeys().publicPem;
  EXPECT_EQ(TokenVerifier(rsa)
                .verify(mintToken(mintRequest(), "ES256", ecKeys().privatePem), kNow)
                .status,
            TokenStatus::kBadAlgorithm);
  VerifierOptions ec;
  ec.ecPublicKeyPem = ecKeys().publicPem;
  EXPECT_EQ(TokenVerifier(ec)
                .verify(mintToken(mintRequest(), "RS256", rsaKeys().privatePem), kNow)
                .status,
            TokenStatus::kBadAlgorithm);
}

TEST(TokenVerifier, refuses_unknown_or_misspelt_algorithms) {
  const std::string payload = R"({"sub":"a"})";
  for (const char* alg : {"hs256", "HS", "HS1", "HS2560", "HS256 ", "PS256", "ES384", "EdDSA"}) {
    EXPECT_EQ(hsStatus(hsToken(R"({"alg":")" + std::string(alg) + R"("})", payload)),
              TokenStatus::kBadAlgorithm)
        << alg;
  }
}

TEST(TokenVerifier, missing_or_non_string_alg_is_malformed) {
  EXPECT_EQ(hsStatus(hsToken(R"({"typ":"JWT"})", R"({"sub":"a"})")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hsToken(R"({"alg":256})", R"({"sub":"a"})")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hsToken(R"({"alg":["HS256"]})", R"({"sub":"a"})")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hsToken(R"({"alg":null})", R"({"sub":"a"})")), TokenStatus::kMalformed);
}

TEST(TokenVerifier, refuses_a_crit_header) {
  EXPECT_EQ(hsStatus(hsToken(R"({"alg":"HS256","crit":["exp"]})", R"({"sub":"a"})")),
            TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hsToken(R"({"alg":"HS256","crit":[]})", R"({"sub":"a"})")),
            TokenStatus::kMalformed);
}

// --- signatures ----------------------------------------------------------------------------------

TEST(TokenVerifier, refuses_a_tampered_payload) {
  const std::string token = hs256(R"({"sub":"alice","rooms":["42"]})");
  const std::string forged = b64url(R"({"sub":"alice","rooms":["*"]})");
  const size_t first = token.find('.');
  const size_t second = token.rfind('.');
  const std::string tampered = token.substr(0, first + 1) + forged + token.substr(second);
  EXPECT_EQ(hsStatus(token), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(tampered), TokenStatus::kBadSignature);
}

TEST(TokenVerifier, refuses_a_tampered_header) {
  const std::string token = hs256(R"({"sub":"alice"})");
  const std::string header = b64url(R"({"alg":"HS256","typ":"JWS"})");
  EXPECT_EQ(hsStatus(header + token.substr(token.find('.'))), TokenStatus::kBadSignature);
}

TEST(TokenVerifier, refuses_a_tampered_signature) {
  const std::string token = hs256(R"({"sub":"alice"})");
  ASSERT_EQ(hsStatus(token), TokenStatus::kValid);
  const std::string sig = signatureOf(token);
  ASSERT_EQ(sig.size(), 43u);  // 32 bytes: the last character carries 4 bits and 2 unused
  for (size_t i = 0; i + 1 < sig.size(); ++i) {
    std::string changed = sig;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(hsStatus(withSignature(token, changed)), TokenStatus::kBadSignature) << i;
  }
  EXPECT_EQ(hsStatus(withSignature(token, sig.substr(0, 40))), TokenStatus::kBadSignature);
  EXPECT_EQ(hsStatus(withSignature(token, sig.substr(0, 4))), TokenStatus::kBadSignature);
  EXPECT_EQ(hsStatus(withSignature(token, sig + "AAAA")), TokenStatus::kBadSignature);
  EXPECT_EQ(hsStatus(withSignature(token, "")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(withSignature(token, b64url(std::string(32, '\0')))),
            TokenStatus::kBadSignature);
}

TEST(TokenVerifier, refuses_a_non_canonical_spelling_of_the_signature) {
  // The last of 43 characters carries 2 unused bits, which must be zero: one signature, one
  // spelling (a replay cache keyed on the token string cannot be dodged).
  const std::string token = hs256(R"({"sub":"alice"})");
  std::string sig = signatureOf(token);
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t value = kAlphabet.find(sig.back());
  ASSERT_EQ(value & 3, 0u);
  sig.back() = kAlphabet[value | 1];
  EXPECT_EQ(hsStatus(withSignature(token, sig)), TokenStatus::kMalformed);
}

TEST(TokenVerifier, refuses_a_token_signed_with_another_secret) {
  const std::string token =
      hsToken(R"({"alg":"HS256"})", R"({"sub":"a"})", "another-secret-of-thirty-two-bytes!!");
  EXPECT_EQ(hsStatus(token), TokenStatus::kBadSignature);
}

TEST(TokenVerifier, refuses_hs384_header_with_an_hs256_signature) {
  const std::string hs256Token = hsToken(R"({"alg":"HS256"})", R"({"sub":"a"})");
  const std::string hs384Token = hsToken(R"({"alg":"HS384"})", R"({"sub":"a"})");
  EXPECT_EQ(hsStatus(withSignature(hs384Token, signatureOf(hs256Token))),
            TokenStatus::kBadSignature);
}

TEST(TokenVerifier, checks_the_signature_before_any_claim) {
  // Expired, no sub, wrong rooms: a bad signature is still reported as such.
  const std::string token = hsToken(R"({"alg":"HS256"})", R"({"exp":1,"rooms":7})", "x" + kSecret);
  EXPECT_EQ(hsStatus(token), TokenStatus::kBadSignature);
}

// --- time claims ---------------------------------------------------------------------------------

TEST(TokenVerifier, exp_is_valid_up_to_exp_plus_leeway_and_expired_one_second_later) {
  const std::string token = hs256(R"({"sub":"a","exp":1700000000})");
  EXPECT_EQ(hsStatus(token, kNow), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(token, kNow + kLeeway), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(token, kNow + kLeeway + 1), TokenStatus::kExpired);
  VerifierOptions strict = hmacOptions();
  strict.leeway = std::chrono::seconds(0);
  EXPECT_EQ(hsStatus(token, kNow, strict), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(token, kNow + 1, strict), TokenStatus::kExpired);
}

TEST(TokenVerifier, exp_reports_epoch_ms_without_leeway) {
  const TokenResult result =
      TokenVerifier(hmacOptions()).verify(hs256(R"({"sub":"a","exp":1700000000.25})"), kNow);
  ASSERT_EQ(result.status, TokenStatus::kValid);
  EXPECT_EQ(result.identity.expiresAtMs, 1'700'000'000'250);
  EXPECT_EQ(TokenVerifier(hmacOptions()).verify(hs256(R"({"sub":"a"})"), kNow).identity.expiresAtMs,
            0);
}

TEST(TokenVerifier, fractional_exp_is_compared_exactly) {
  const std::string token = hs256(R"({"sub":"a","exp":1699999994.5})");
  EXPECT_EQ(hsStatus(token, kNow - 1), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(token, kNow), TokenStatus::kExpired);
}

TEST(TokenVerifier, huge_exp_is_valid_and_clamped) {
  const TokenResult result =
      TokenVerifier(hmacOptions()).verify(hs256(R"({"sub":"a","exp":1e300})"), kNow);
  ASSERT_EQ(result.status, TokenStatus::kValid);
  EXPECT_GT(result.identity.expiresAtMs, int64_t{1} << 62);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","exp":-1e300})")), TokenStatus::kExpired);
}

TEST(TokenVerifier, nbf_is_valid_from_nbf_minus_leeway) {
  const std::string token = hs256(R"({"sub":"a","nbf":1700000000})");
  EXPECT_EQ(hsStatus(token, kNow), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(token, kNow - kLeeway), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(token, kNow - kLeeway - 1), TokenStatus::kNotYetValid);
}

TEST(TokenVerifier, iat_more_than_leeway_in_the_future_is_not_yet_valid) {
  const std::string token = hs256(R"({"sub":"a","iat":1700000000})");
  EXPECT_EQ(hsStatus(token, kNow - kLeeway), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(token, kNow - kLeeway - 1), TokenStatus::kNotYetValid);
  EXPECT_EQ(hsStatus(token, kNow + 1'000'000), TokenStatus::kValid);  // old iat is fine
}

TEST(TokenVerifier, time_claims_must_be_numbers) {
  for (const char* claim : {"exp", "nbf", "iat"}) {
    for (const char* value : {"\"1700000000\"", "true", "null", "[1]", "{}"}) {
      const std::string payload =
          R"({"sub":"a",")" + std::string(claim) + "\":" + std::string(value) + "}";
      EXPECT_EQ(hsStatus(hs256(payload)), TokenStatus::kBadClaims) << payload;
    }
  }
}

// --- audience, issuer, subject -------------------------------------------------------------------

TEST(TokenVerifier, audience_as_string_or_array_must_contain_the_configured_one) {
  VerifierOptions options = hmacOptions();
  options.audience = "chat";
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":"chat"})"), kNow, options), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":["x","chat"]})"), kNow, options),
            TokenStatus::kValid);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":"chat2"})"), kNow, options),
            TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":["x"]})"), kNow, options), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":[]})"), kNow, options), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":["chat",1]})"), kNow, options),
            TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":7})"), kNow, options), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a"})"), kNow, options), TokenStatus::kBadClaims);
  // Not configured: not checked.
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","aud":7})")), TokenStatus::kValid);
}

TEST(TokenVerifier, audience_from_mint_token_round_trips) {
  VerifierOptions options = hmacOptions();
  options.audience = "chat";
  options.issuer = "auth.example";
  MintRequest request = mintRequest();
  request.audience = "chat";
  request.issuer = "auth.example";
  EXPECT_EQ(hsStatus(mintToken(request, "HS256", kSecret), kNow, options), TokenStatus::kValid);
  request.issuer = "evil.example";
  EXPECT_EQ(hsStatus(mintToken(request, "HS256", kSecret), kNow, options), TokenStatus::kBadClaims);
}

TEST(TokenVerifier, issuer_must_equal_the_configured_one) {
  VerifierOptions options = hmacOptions();
  options.issuer = "auth.example";
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","iss":"auth.example"})"), kNow, options),
            TokenStatus::kValid);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","iss":"Auth.example"})"), kNow, options),
            TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","iss":["auth.example"]})"), kNow, options),
            TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a"})"), kNow, options), TokenStatus::kBadClaims);
}

TEST(TokenVerifier, requires_a_non_empty_string_sub_of_at_most_256_bytes) {
  EXPECT_EQ(hsStatus(hs256(R"({"rooms":["42"]})")), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":""})")), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":42})")), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":null})")), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a"})")), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":")" + std::string(256, 'u') + "\"}")), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":")" + std::string(257, 'u') + "\"}")),
            TokenStatus::kBadClaims);
}

// --- rooms, pub, info ----------------------------------------------------------------------------

TEST(TokenVerifier, absent_rooms_joins_nothing_and_absent_pub_follows_rooms) {
  TokenResult result = TokenVerifier(hmacOptions()).verify(hs256(R"({"sub":"a"})"), kNow);
  ASSERT_EQ(result.status, TokenStatus::kValid);
  EXPECT_TRUE(result.identity.rooms.empty());
  EXPECT_TRUE(result.identity.publish.empty());
  EXPECT_EQ(result.identity.infoJson, "");
  result = TokenVerifier(hmacOptions()).verify(hs256(R"({"sub":"a","rooms":["r-*"]})"), kNow);
  ASSERT_EQ(result.status, TokenStatus::kValid);
  EXPECT_TRUE(result.identity.publish.matches("r-1"));
}

TEST(TokenVerifier, empty_pub_is_read_only) {
  const TokenResult result =
      TokenVerifier(hmacOptions()).verify(hs256(R"({"sub":"a","rooms":["*"],"pub":[]})"), kNow);
  ASSERT_EQ(result.status, TokenStatus::kValid);
  EXPECT_TRUE(result.identity.rooms.matches("x"));
  EXPECT_FALSE(result.identity.publish.matches("x"));
}

TEST(TokenVerifier, refuses_rooms_and_pub_of_the_wrong_type) {
  for (const char* claim : {"rooms", "pub"}) {
    for (const char* value : {"\"42\"", "42", "null", "{}", "[42]", "[\"a\",null]", "[[\"a\"]]",
                              "[\"a.b\"]", "[\"\"]", "[\"**\"]"}) {
      const std::string payload =
          R"({"sub":"a",")" + std::string(claim) + "\":" + std::string(value) + "}";
      EXPECT_EQ(hsStatus(hs256(payload)), TokenStatus::kBadClaims) << payload;
    }
  }
}

TEST(TokenVerifier, refuses_more_than_1000_rooms) {
  std::string rooms = "[";
  for (int i = 0; i <= 1000; ++i) rooms += (i ? ",\"r" : "\"r") + std::to_string(i) + "\"";
  rooms += "]";
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","rooms":)" + rooms + "}"), kNow,
                     [] {
                       VerifierOptions o = hmacOptions();
                       o.maxTokenBytes = 1 << 16;
                       return o;
                     }()),
            TokenStatus::kBadClaims);
}

TEST(TokenVerifier, info_must_be_an_object_and_is_kept_compact) {
  for (const char* value : {"\"x\"", "1", "[]", "null", "true"}) {
    EXPECT_EQ(hsStatus(hs256(R"({"sub":"a","info":)" + std::string(value) + "}")),
              TokenStatus::kBadClaims)
        << value;
  }
  const TokenResult result = TokenVerifier(hmacOptions())
                                 .verify(hs256(R"({"sub":"a","info": { "b" : [1, 2],
                                                   "a" : {"c" : "d"} } })"),
                                         kNow);
  ASSERT_EQ(result.status, TokenStatus::kValid);
  EXPECT_EQ(result.identity.infoJson, R"({"a":{"c":"d"},"b":[1,2]})");
}

// --- malformed input ----------------------------------------------------------------------------

TEST(TokenVerifier, empty_token_is_missing) { EXPECT_EQ(hsStatus(""), TokenStatus::kMissing); }

TEST(TokenVerifier, refuses_the_wrong_number_of_parts) {
  const std::string token = hs256(R"({"sub":"a"})");
  const std::string twoParts = token.substr(0, token.rfind('.'));
  EXPECT_EQ(hsStatus(twoParts), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(token + ".AAAA"), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(token + "."), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus("." + token), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus("abc"), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(".."), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus("a..b"), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(".a.b"), TokenStatus::kMalformed);
}

TEST(TokenVerifier, refuses_characters_outside_base64url) {
  const std::string token = hs256(R"({"sub":"a","rooms":["42"]})");
  const size_t first = token.find('.');
  for (char bad : {'+', '/', '=', ' ', '\n', '%', '\x80', '\0'}) {
    std::string changed = token;
    changed.insert(first + 3, 1, bad);
    EXPECT_EQ(hsStatus(changed), TokenStatus::kMalformed) << int(bad);
  }
  EXPECT_EQ(hsStatus(token + "="), TokenStatus::kMalformed);  // padding
  // A segment of 4k+1 characters cannot be base64.
  EXPECT_EQ(hsStatus("eyJhbGciOiJIUzI1NiJ9.A.AAAA"), TokenStatus::kMalformed);
}

TEST(TokenVerifier, refuses_header_or_payload_that_is_not_a_json_object) {
  EXPECT_EQ(hsStatus(hsToken("not json", R"({"sub":"a"})")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hsToken(R"(["HS256"])", R"({"sub":"a"})")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hs256(R"(["sub","a"])")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hs256(R"("a")")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a")")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a"} trailing)")), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(hs256("")), TokenStatus::kMalformed);
}

TEST(TokenVerifier, refuses_a_sub_or_info_that_is_not_utf8) {
  EXPECT_EQ(hsStatus(hs256("{\"sub\":\"\x8b\x8a\"}")), TokenStatus::kMalformed);  // raw bytes
  // A lone surrogate escape: POCO's parser refuses it (kMalformed); were it to decode it, the
  // verifier's own UTF-8 check would say kBadClaims. Either way, never valid.
  EXPECT_NE(hsStatus(hs256(R"({"sub":"a\ud800"})")), TokenStatus::kValid);
  EXPECT_NE(hsStatus(hs256(R"({"sub":"a","info":{"x":"\udfff"}})")), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"\ud83d\ude00"})")), TokenStatus::kValid);  // a pair
}

TEST(TokenVerifier, refuses_a_nul_in_sub_but_not_an_escaped_backslash) {
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"a\u0000b"})")), TokenStatus::kBadClaims);
  const TokenResult result =
      TokenVerifier(hmacOptions()).verify(hs256(R"({"sub":"a\\u0000b"})"), kNow);
  ASSERT_EQ(result.status, TokenStatus::kValid);
  EXPECT_EQ(result.identity.user, "a\\u0000b");
}

TEST(TokenVerifier, refuses_deeply_nested_json) {
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  const std::string payload = R"({"sub":"a","info":{"x":)" + deep + "}}";
  VerifierOptions options = hmacOptions();
  options.maxTokenBytes = 1 << 16;
  EXPECT_EQ(hsStatus(hs256(payload), kNow, options), TokenStatus::kMalformed);
}

TEST(TokenVerifier, refuses_a_token_longer_than_max_token_bytes) {
  const std::string token = hs256(R"({"sub":"a","pad":")" + std::string(9000, 'p') + "\"}");
  EXPECT_GT(token.size(), 8192u);
  EXPECT_EQ(hsStatus(token), TokenStatus::kMalformed);
  VerifierOptions options = hmacOptions();
  options.maxTokenBytes = token.size();
  EXPECT_EQ(hsStatus(token, kNow, options), TokenStatus::kValid);
  options.maxTokenBytes = token.size() - 1;
  EXPECT_EQ(hsStatus(token, kNow, options), TokenStatus::kMalformed);
  EXPECT_EQ(hsStatus(std::string(1 << 20, 'A')), TokenStatus::kMalformed);
}

// --- construction ----------------------------------------------------------------------------

TEST(TokenVerifier, constructor_refuses_no_key) {
  EXPECT_THROW(TokenVerifier(VerifierOptions{}), std::invalid_argument);
}

TEST(TokenVerifier, constructor_refuses_two_key_families) {
  VerifierOptions options;
  options.hmacSecret = kSecret;
  options.rsaPublicKeyPem = rsaKeys().publicPem;
  EXPECT_THROW(TokenVerifier{options}, std::invalid_argument);
  options.hmacSecret.clear();
  options.ecPublicKeyPem = ecKeys().publicPem;
  EXPECT_THROW(TokenVerifier{options}, std::invalid_argument);
}

TEST(TokenVerifier, constructor_refuses_a_secret_shorter_than_32_bytes) {
  VerifierOptions options;
  options.hmacSecret = kSecret.substr(0, 31);
  try {
    TokenVerifier verifier(options);
    FAIL() << "a 31-byte secret was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("32"), std::string::npos) << e.what();
  }
  options.hmacSecret = kSecret;
  EXPECT_NO_THROW(TokenVerifier{options});
}

TEST(TokenVerifier, constructor_refuses_a_pem_that_does_not_load) {
  for (const std::string& pem : {std::string("not a pem"),
                                 std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                             "-----END PUBLIC KEY-----\n"),
                                 rsaKeys().publicPem.substr(0, 100)}) {
    VerifierOptions rsa;
    rsa.rsaPublicKeyPem = pem;
    EXPECT_THROW(TokenVerifier{rsa}, std::invalid_argument) << pem;
    VerifierOptions ec;
    ec.ecPublicKeyPem = pem;
    EXPECT_THROW(TokenVerifier{ec}, std::invalid_argument) << pem;
  }
}

TEST(TokenVerifier, constructor_refuses_a_pem_of_the_other_family) {
  VerifierOptions rsa;
  rsa.rsaPublicKeyPem = ecKeys().publicPem;
  EXPECT_THROW(TokenVerifier{rsa}, std::invalid_argument);
  VerifierOptions ec;
  ec.ecPublicKeyPem = rsaKeys().publicPem;
  EXPECT_THROW(TokenVerifier{ec}, std::invalid_argument);
}

TEST(TokenVerifier, constructor_refusal_message_is_readable) {
  VerifierOptions options;
  options.rsaPublicKeyPem = "garbage";
  try {
    TokenVerifier verifier(options);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("RSA"), std::string::npos) << e.what();
  }
}

// --- misc
// ------------------------------------------------------------------------------------------

TEST(TokenVerifier, status_names_are_lower_snake) {
  EXPECT_STREQ(tokenStatusName(TokenStatus::kMissing), "missing");
  EXPECT_STREQ(tokenStatusName(TokenStatus::kMalformed), "malformed");
  EXPECT_STREQ(tokenStatusName(TokenStatus::kBadSignature), "bad_signature");
  EXPECT_STREQ(tokenStatusName(TokenStatus::kBadAlgorithm), "bad_algorithm");
  EXPECT_STREQ(tokenStatusName(TokenStatus::kExpired), "expired");
  EXPECT_STREQ(tokenStatusName(TokenStatus::kNotYetValid), "not_yet_valid");
  EXPECT_STREQ(tokenStatusName(TokenStatus::kBadClaims), "bad_claims");
}

TEST(TokenVerifier, one_instance_verifies_from_many_threads) {
  VerifierOptions ecOptions;
  ecOptions.ecPublicKeyPem = ecKeys().publicPem;
  const TokenVerifier hs(hmacOptions());
  const TokenVerifier es(ecOptions);
  const std::string hsGood = mintToken(mintRequest(), "HS512", kSecret);
  const std::string esGood = mintToken(mintRequest(), "ES256", ecKeys().privatePem);
  const std::string bad = hs256(R"({"sub":"a"})") + "x";
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (hs.verify(hsGood, kNow).status != TokenStatus::kValid) ++failures;
        if (es.verify(esGood, kNow).status != TokenStatus::kValid) ++failures;
        if (hs.verify(bad, kNow).status == TokenStatus::kValid) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- the per-thread header memo
// -------------------------------------------------------------------

TEST(TokenVerifier, a_remembered_header_never_changes_a_verdict) {
  const TokenVerifier hs(hmacOptions());
  const std::string good = hs256(R"({"sub":"a"})");
  ASSERT_EQ(hs.verify(good, kNow).status, TokenStatus::kValid);
  // Same header segment, now remembered: the signature and claims are still checked.
  EXPECT_EQ(hs.verify(withSignature(good, signatureOf(hs256(R"({"sub":"b"})"))), kNow).status,
            TokenStatus::kBadSignature);
  EXPECT_EQ(hs.verify(hs256(R"({"rooms":["x"]})"), kNow).status, TokenStatus::kBadClaims);
  // Other headers on the same verifier and thread are read afresh.
  EXPECT_EQ(hs.verify(hsToken(R"({"alg":"HS512"})", R"({"sub":"a"})"), kNow).status,
            TokenStatus::kValid);
  EXPECT_EQ(hs.verify(hsToken(R"({"alg":"HS256","crit":["x"]})", R"({"sub":"a"})"), kNow).status,
            TokenStatus::kMalformed);
  EXPECT_EQ(hs.verify(good, kNow).status, TokenStatus::kValid);
  // A verifier of another family refuses the header this thread just accepted for HS.
  VerifierOptions rsa;
  rsa.rsaPublicKeyPem = rsaKeys().publicPem;
  EXPECT_EQ(TokenVerifier(rsa).verify(good, kNow).status, TokenStatus::kBadAlgorithm);
  // Verifiers of another family made and dropped in turn, likely at the address of the last:
  // each refuses the header that this thread remembers for an HS verifier.
  VerifierOptions ec;
  ec.ecPublicKeyPem = ecKeys().publicPem;
  for (int i = 0; i < 3; ++i) {
    std::optional<TokenVerifier> other;
    other.emplace(i % 2 ? rsa : ec);
    EXPECT_EQ(other->verify(good, kNow).status, TokenStatus::kBadAlgorithm);
    other.reset();
    other.emplace(hmacOptions());
    EXPECT_EQ(other->verify(good, kNow).status, TokenStatus::kValid);
  }
}

TEST(TokenVerifier, refuses_an_escaped_nul_that_would_cut_a_key_short) {
  // POCO reads the key "sub\u0000x" as "sub": without the check this token would be "admin".
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"alice","sub\u0000x":"admin"})")), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"alice","info":{"k\u0000":1}})")), TokenStatus::kBadClaims);
  EXPECT_EQ(hsStatus(hsToken(R"({"alg":"HS256","alg\u0000":"x"})", R"({"sub":"a"})")),
            TokenStatus::kMalformed);
  // An escaped backslash before "u0000" is no NUL; one before a real escape does not hide it.
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"alice","note\\u0000":1})")), TokenStatus::kValid);
  EXPECT_EQ(hsStatus(hs256(R"({"sub":"alice","note":"\\\u0000"})")), TokenStatus::kBadClaims);
}
