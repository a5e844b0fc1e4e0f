// The ancestor's clients were JVM WebSocket clients. tests/java/AncestorClient.java stands in for
// them with the JDK's own java.net.http.WebSocket, which shares no code with ours: with auth off
// it chats exactly as before, and with auth on it is refused without a token and chats with one.
#include <Poco/Pipe.h>
#include <Poco/PipeStream.h>
#include <Poco/Process.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "support/ServerProcess.h"
#include "support/TestTokens.h"

namespace heimdallr::test {

namespace {

struct JavaRun {
  int exitCode = -1;
  std::string output;
};

// Runs the single-file Java client to completion (the JDK compiles it on the fly).
JavaRun runJavaClient(const std::string& url, int clients, int messages) {
  Poco::Pipe output;
  const std::vector<std::string> args = {
      std::string(HEIMDALLR_SOURCE_DIR) + "/tests/java/AncestorClient.java", url,
      std::to_string(clients), std::to_string(messages)};
  Poco::ProcessHandle handle = Poco::Process::launch("java", args, nullptr, &output, &output);
  Poco::PipeInputStream in(output);
  std::ostringstream text;
  text << in.rdbuf();
  JavaRun run;
  run.exitCode = handle.wait();
  run.output = text.str();
  return run;
}

constexpr const char* kSecret = "ancestor-client-secret-of-32-bytes!!";

}  // namespace

TEST(AncestorClient, chats_in_a_room_with_auth_off_exactly_as_before) {
  ServerProcess server;
  const JavaRun run =
      runJavaClient("ws://127.0.0.1:" + std::to_string(server.port()) + "/42", 3, 20);
  EXPECT_EQ(0, run.exitCode) << run.output;
  EXPECT_NE(run.output.find("ok 180"), std::string::npos) << run.output;
}

TEST(AncestorClient, is_refused_without_a_token_and_chats_with_one_when_auth_is_on) {
  const TempFiles files;
  ServerProcess server(
      {"auth.enabled=true", "auth.hmac_secret_file=" + files.write("jwt", kSecret)});
  const std::string base = "ws://127.0.0.1:" + std::to_string(server.port()) + "/42";
  const JavaRun refused = runJavaClient(base, 1, 1);
  EXPECT_EQ(2, refused.exitCode) << refused.output;
  EXPECT_NE(refused.output.find("refused 401"), std::string::npos) << refused.output;
  const JavaRun allowed =
      runJavaClient(base + "?token=" + mintTestToken("java", {"42"}, kSecret), 2, 10);
  EXPECT_EQ(0, allowed.exitCode) << allowed.output;
  EXPECT_NE(allowed.output.find("ok 40"), std::string::npos) << allowed.output;
}

}  // namespace heimdallr::test
