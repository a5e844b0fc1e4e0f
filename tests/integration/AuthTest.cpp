// JWT connect tokens against the real server: the upgrade's 401s and 403s and their counts, the
// token's `pub` in the raw protocol, expiry during a session, SIGHUP key rotation, the start-up
// errors, and `heimdallr token`. Tokens here come from our own minter; tests/e2e/auth.e2e.mjs
// does the same with npm jsonwebtoken, which shares no code with us.
#include <Poco/Crypto/ECKey.h>
#include <Poco/Crypto/RSAKey.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "auth/TokenMinter.h"
#include "auth/TokenVerifier.h"
#include "support/MetricsScrape.h"
#include "support/ServerProcess.h"
#include "support/TestTokens.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

constexpr const char* kSecret = "a-test-secret-that-is-32-bytes-long!";
constexpr const char* kOtherSecret = "another-secret-also-at-least-32-bytes";

std::string mint(const std::string& user, std::vector<std::string> rooms,
                 std::optional<std::vector<std::string>> publish = std::nullopt,
                 std::chrono::seconds ttl = 1h, const std::string& secret = kSecret,
                 int64_t now = wallSeconds()) {
  return mintTestToken(user, std::move(rooms), secret, std::move(publish), ttl, now);
}

double refused(uint16_t port, const std::string& reason) {
  return MetricsScrape(port).value("heimdallr_requests_refused_total{reason=\"" + reason + "\"}");
}

// A server with auth on and the HMAC secret in a file of `dir`.
std::vector<std::string> authOn(const TempFiles& dir, std::vector<std::string> more = {}) {
  std::vector<std::string> overrides = {"auth.enabled=true",
                                        "auth.hmac_secret_file=" + dir.write("jwt", kSecret)};
  for (auto& o : more) overrides.push_back(std::move(o));
  return overrides;
}

std::vector<std::string> argsWith(const std::vector<std::string>& overrides) {
  std::vector<std::string> args = ServerProcess::defaultArgs();
  for (const auto& o : overrides) {
    args.push_back("--set");
    args.push_back(o);
  }
  return args;
}
}  // namespace

TEST(Auth, with_auth_off_anyone_joins_any_room_as_before) {
  ServerProcess server;
  WsTestClient a(server.port());
  ASSERT_EQ(101, a.handshake("/42"));
  a.sendText("hi");
  auto frame = a.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("hi", frame->payload);
}

TEST(Auth, a_valid_token_joins_by_query_or_by_bearer_header_and_chats) {
  TempFiles dir;
  ServerProcess server(authOn(dir));
  const std::string token = mint("alice", {"team-*", "42"});
  WsTestClient byQuery(server.port()), byHeader(server.port());
  ASSERT_EQ(101, byQuery.handshake("/42?token=" + token));
  ASSERT_EQ(101, byHeader.handshake("/team-red", {"Authorization: Bearer " + token}));
  WsTestClient sameRoom(server.port());
  ASSERT_EQ(101, sameRoom.handshake("/team-red", {"Authorization: bearer " + token}));
  byHeader.sendText("hello team");
  for (auto* c : {&byHeader, &sameRoom}) {
    auto frame = c->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ("hello team", frame->payload);
  }
  EXPECT_FALSE(byQuery.receive(200ms));
}

TEST(Auth, refusals_say_401_or_403_with_a_short_reason_and_are_counted_by_reason) {
  TempFiles dir;
  ServerProcess server(authOn(dir, {"auth.leeway_s=0"}));
  const int64_t now = wallSeconds();
  const std::string good = mint("alice", {"team-*"});
  std::string tamperedPayload = good;
  {
    // Swap the payload for another user's: same header, same signature.
    const std::string other = mint("mallory", {"*"});
    const size_t a1 = good.find('.'), a2 = good.find('.', a1 + 1);
    const size_t b1 = other.find('.'), b2 = other.find('.', b1 + 1);
    tamperedPayload = good.substr(0, a1 + 1) + other.substr(b1 + 1, b2 - b1 - 1) + good.substr(a2);
  }
  // One character inside the signature (not the last: its unused bits make some changes a
  // malformed spelling rather than another signature).
  std::string tamperedSignature = good;
  char& inside = tamperedSignature[good.rfind('.') + 5];
  inside = inside == 'A' ? 'B' : 'A';
  struct Case {
    std::string path;
    int status;
    std::string reason;  // metric label
    std::string body;    // what the client is told
  };
  const std::vector<Case> cases = {
      {"/team-red", 401, "token_missing", "token required"},
      {"/team-red?token=not.a.jwt", 401, "token_malformed", "invalid token"},
      {"/team-red?token=garbage", 401, "token_malformed", "invalid token"},
      {"/team-red?token=" + tamperedPayload, 401, "token_bad_signature", "invalid token"},
      {"/team-red?token=" + tamperedSignature, 401, "token_bad_signature", "invalid token"},
      {"/team-red?token=" + mint("alice", {"team-*"}, {}, 1h, kOtherSecret), 401,
       "token_bad_signature", "invalid token"},
      {"/team-red?token=" + mint("alice", {"team-*"}, {}, 10s, kSecret, now - 60), 401,
       "token_expired", "token expired"},
      {"/red?token=" + good, 403, "room_forbidden", "this token does not grant the room"},
      {"/teamx?token=" + good, 403, "room_forbidden", "this token does not grant the room"},
  };
  for (const Case& c : cases) {
    const double before = refused(server.port(), c.reason);
    WsTestClient client(server.port());
    EXPECT_EQ(c.status, client.handshake(c.path)) << c.path;
    const std::string& head = client.responseHead();
    if (c.status == 401) {
      EXPECT_NE(head.find("WWW-Authenticate: Bearer"), std::string::npos) << c.path;
    }
    EXPECT_TRUE(client.waitForEof()) << c.path;
    EXPECT_EQ(before + 1, refused(server.port(), c.reason)) << c.path;
  }
  // The token never shows up in the log, whatever happened to it.
  EXPECT_EQ(server.log().find(good.substr(good.rfind('.') + 1)), std::string::npos);
}

TEST(Auth, a_refusal_body_is_the_short_reason_and_never_echoes_the_token) {
  TempFiles dir;
  ServerProcess server(authOn(dir));
  const std::string token = mint("alice", {"a"});
  const std::string response = rawHttpExchange(
      server.port(), "GET /b?token=" + token +
                         " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 403", 0), 0u) << response;
  EXPECT_NE(response.find("{\"error\":\"this token does not grant the room\"}"), std::string::npos);
  EXPECT_EQ(response.find(token), std::string::npos);
  EXPECT_EQ(response.find(token.substr(0, 20)), std::string::npos);
}

TEST(Auth, a_read_only_member_receives_and_is_closed_with_4003_when_it_publishes) {
  TempFiles dir;
  ServerProcess server(authOn(dir));
  WsTestClient writer(server.port()), reader(server.port());
  ASSERT_EQ(101, writer.handshake("/live?token=" + mint("host", {"live"})));
  ASSERT_EQ(101,
            reader.handshake("/live?token=" + mint("fan", {"live"}, std::vector<std::string>{})));
  writer.sendText("welcome");
  auto frame = reader.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("welcome", frame->payload);
  ASSERT_TRUE(writer.receive());  // its own echo
  reader.sendText("let me talk");
  EXPECT_EQ(4003, reader.receiveCloseCode());
  EXPECT_FALSE(writer.receive(300ms)) << "the forbidden message reached the room";
  const MetricsScrape metrics(server.port());
  EXPECT_EQ(1, metrics.value("heimdallr_messages_dropped_total{reason=\"forbidden\"}"));
  EXPECT_EQ(1, metrics.value("heimdallr_connections_closed_total{reason=\"forbidden\"}"));
}

TEST(Auth, pub_narrower_than_rooms_allows_publishing_only_there) {
  TempFiles dir;
  ServerProcess server(authOn(dir));
  const std::string token = mint("mod", {"a", "b"}, std::vector<std::string>{"a"});
  WsTestClient inA(server.port()), inB(server.port());
  ASSERT_EQ(101, inA.handshake("/a?token=" + token));
  ASSERT_EQ(101, inB.handshake("/b?token=" + token));
  inA.sendText("ok in a");
  auto frame = inA.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("ok in a", frame->payload);
  inB.sendText("not in b");
  EXPECT_EQ(4003, inB.receiveCloseCode());
}

TEST(Auth, a_live_session_is_closed_with_4001_when_its_token_expires) {
  TempFiles dir;
  ServerProcess server(authOn(dir, {"auth.leeway_s=0"}));
  WsTestClient client(server.port()), stays(server.port());
  ASSERT_EQ(101, client.handshake("/r?token=" + mint("brief", {"r"}, std::nullopt, 2s)));
  ASSERT_EQ(101, stays.handshake("/r?token=" + mint("long", {"r"})));
  const auto start = std::chrono::steady_clock::now();
  client.sendText("still valid");
  ASSERT_TRUE(stays.receive());
  EXPECT_EQ(4001, client.receiveCloseCode(6s));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms) << "closed before the token expired";
  EXPECT_EQ(1, MetricsScrape(server.port())
                   .value("heimdallr_connections_closed_total{reason=\"token_expired\"}"));
  stays.sendText("after");
  auto frame = stays.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("after", frame->payload);
}

TEST(Auth, sighup_rotates_the_key_and_a_failed_reload_keeps_the_old_one) {
  TempFiles dir;
  const std::string secretFile = dir.write("jwt", kSecret);
  ServerProcess server({"auth.enabled=true", "auth.hmac_secret_file=" + secretFile});
  const std::string oldToken = mint("alice", {"r"});
  const std::string newToken = mint("alice", {"r"}, std::nullopt, 1h, kOtherSecret);
  {
    WsTestClient client(server.port());
    ASSERT_EQ(101, client.handshake("/r?token=" + oldToken));
  }
  dir.write("jwt", std::string(kOtherSecret) + "\n");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.waitForLog("keys reloaded", 5s)) << server.log();
  {
    WsTestClient before(server.port()), after(server.port());
    EXPECT_EQ(401, before.handshake("/r?token=" + oldToken));
    EXPECT_EQ(101, after.handshake("/r?token=" + newToken));
  }
  dir.write("jwt", "short");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.waitForLog("keys not reloaded", 5s)) << server.log();
  EXPECT_NE(server.log().find("auth.hmac_secret_file"), std::string::npos);
  WsTestClient still(server.port());
  EXPECT_EQ(101, still.handshake("/r?token=" + newToken));
  EXPECT_EQ(server.log().find(kOtherSecret), std::string::npos) << "a secret was logged";
}

TEST(Auth, start_up_refuses_auth_without_exactly_one_good_key_and_names_the_key) {
  TempFiles dir;
  const std::string secret = dir.write("jwt", kSecret);
  struct Case {
    std::vector<std::string> overrides;
    Poco::Process::Env env;
    std::string mustSay;
  };
  const std::vector<Case> cases = {
      {{"auth.enabled=true"}, {}, "auth.enabled"},
      {{"auth.enabled=true", "auth.hmac_secret_file=" + dir.write("short", "too short")},
       {},
       "auth.hmac_secret_file"},
      {{"auth.enabled=true", "auth.hmac_secret_file=/nonexistent/jwt"},
       {},
       "auth.hmac_secret_file"},
      {{"auth.enabled=true", "auth.hmac_secret_file=" + secret},
       {{"HEIMDALLR_AUTH_HMAC_SECRET", kOtherSecret}},
       "HEIMDALLR_AUTH_HMAC_SECRET"},
      {{"auth.enabled=true", "auth.hmac_secret_file=" + secret,
        "auth.rsa_public_key_file=" + dir.write("rsa.pem", "not a pem")},
       {},
       "auth.rsa_public_key_file"},
      {{"auth.enabled=true", "auth.rsa_public_key_file=" + dir.write("bad.pem", "not a pem")},
       {},
       "auth.rsa_public_key_file"},
      {{"auth.hmac_secret_file=" + secret}, {}, "auth.enabled is false"},
      {{"api.key_file=" + dir.write("api", "short")}, {}, "api.key_file"},
  };
  for (const Case& c : cases) {
    const auto outcome = ServerProcess::runToExit(argsWith(c.overrides), 15s, c.env);
    EXPECT_EQ(78, outcome.exitCode) << outcome.output;
    EXPECT_NE(outcome.output.find(c.mustSay), std::string::npos) << outcome.output;
    EXPECT_EQ(outcome.output.find(kSecret), std::string::npos) << "a secret was printed";
  }
}

TEST(Auth, the_token_command_mints_what_the_server_accepts_from_file_or_environment) {
  TempFiles dir;
  const std::string secretFile = dir.write("jwt", kSecret);
  ServerProcess server({"auth.enabled=true", "auth.hmac_secret_file=" + secretFile});

  std::vector<std::string> args =
      argsWith({"auth.enabled=true", "auth.hmac_secret_file=" + secretFile});
  args.insert(args.begin(), "token");
  for (const char* a : {"--sub", "alice", "--rooms", "team-*,42", "--ttl", "1h"}) args.push_back(a);
  const auto fromFile = ServerProcess::runToExit(args);
  ASSERT_EQ(0, fromFile.exitCode) << fromFile.output;
  std::string token = fromFile.output.substr(0, fromFile.output.find('\n'));

  auth::VerifierOptions options;
  options.hmacSecret = kSecret;
  const auth::TokenResult result = auth::TokenVerifier(options).verify(token, wallSeconds());
  ASSERT_EQ(auth::TokenStatus::kValid, result.status);
  EXPECT_EQ("alice", result.identity.user);
  EXPECT_TRUE(result.identity.rooms.matches("team-red"));
  EXPECT_TRUE(result.identity.rooms.matches("42"));
  EXPECT_FALSE(result.identity.rooms.matches("43"));
  EXPECT_NEAR(static_cast<double>(result.identity.expiresAtMs / 1000),
              static_cast<double>(wallSeconds() + 3600), 30);
  WsTestClient client(server.port());
  EXPECT_EQ(101, client.handshake("/team-blue?token=" + token));

  // The same with the secret in the environment instead of the file.
  std::vector<std::string> envArgs = argsWith({"auth.enabled=true"});
  envArgs.insert(envArgs.begin(), "token");
  for (const char* a : {"--sub", "bob", "--rooms", "42", "--pub", "", "--ttl", "15m"})
    envArgs.push_back(a);
  const auto fromEnv =
      ServerProcess::runToExit(envArgs, 15s, {{"HEIMDALLR_AUTH_HMAC_SECRET", kSecret}});
  ASSERT_EQ(0, fromEnv.exitCode) << fromEnv.output;
  token = fromEnv.output.substr(0, fromEnv.output.find('\n'));
  WsTestClient readOnly(server.port());
  ASSERT_EQ(101, readOnly.handshake("/42?token=" + token));
  readOnly.sendText("read only");
  EXPECT_EQ(4003, readOnly.receiveCloseCode());

  // Without --sub, or with auth off, it says why and mints nothing.
  std::vector<std::string> noSub =
      argsWith({"auth.enabled=true", "auth.hmac_secret_file=" + secretFile});
  noSub.insert(noSub.begin(), "token");
  const auto missing = ServerProcess::runToExit(noSub);
  EXPECT_EQ(64, missing.exitCode);
  EXPECT_NE(missing.output.find("--sub"), std::string::npos) << missing.output;
  std::vector<std::string> off = ServerProcess::defaultArgs();
  off.insert(off.begin(), "token");
  for (const char* a : {"--sub", "x", "--rooms", "42"}) off.push_back(a);
  const auto disabled = ServerProcess::runToExit(off);
  EXPECT_EQ(78, disabled.exitCode);
  EXPECT_NE(disabled.output.find("auth.enabled"), std::string::npos) << disabled.output;
}

// RS256 and ES256 end to end: the server holds only the public key; the token is signed with the
// private one. An HS256 token signed with the public key as its secret is refused.
TEST(Auth, rs256_and_es256_tokens_join_with_the_public_key_configured) {
  struct Family {
    std::string configKey;
    std::string algorithm;
    std::function<std::pair<std::string, std::string>()> makeKeys;  // public, private PEM
  };
  const std::vector<Family> families = {
      {"auth.rsa_public_key_file", "RS256",
       [] {
         Poco::Crypto::RSAKey key(Poco::Crypto::RSAKey::KL_2048, Poco::Crypto::RSAKey::EXP_LARGE);
         std::ostringstream pub, priv;
         key.save(&pub, &priv);
         return std::pair{pub.str(), priv.str()};
       }},
      {"auth.ec_public_key_file", "ES256",
       [] {
         Poco::Crypto::ECKey key("prime256v1");
         std::ostringstream pub, priv;
         key.save(&pub, &priv);
         return std::pair{pub.str(), priv.str()};
       }},
  };
  for (const Family& family : families) {
    SCOPED_TRACE(family.algorithm);
    const auto [publicPem, privatePem] = family.makeKeys();
    TempFiles files;
    ServerProcess server(
        {"auth.enabled=true", family.configKey + "=" + files.write("public.pem", publicPem)});
    auth::MintRequest request;
    request.user = "alice";
    request.rooms = {"42"};
    request.nowSeconds = wallSeconds();
    WsTestClient a(server.port()), b(server.port());
    ASSERT_EQ(101,
              a.handshake("/42?token=" + auth::mintToken(request, family.algorithm, privatePem)));
    ASSERT_EQ(101, b.handshake("/42", {"Authorization: Bearer " +
                                       auth::mintToken(request, family.algorithm, privatePem)}));
    a.sendText("signed by " + family.algorithm);
    auto frame = b.receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ("signed by " + family.algorithm, frame->payload);
    // Algorithm confusion: the public key, which anyone may have, used as an HMAC secret.
    WsTestClient forged(server.port());
    EXPECT_EQ(401, forged.handshake("/42?token=" + mintTestToken("mallory", {"*"}, publicPem)));
    EXPECT_EQ(1, refused(server.port(), "token_bad_algorithm"));
  }
}

}  // namespace heimdallr::test
