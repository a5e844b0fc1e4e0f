// Start-up failures of the real binary: a bad config or a busy port exits non-zero with a message
// naming the key (and the file) to fix; --help exits 0.
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/ServerProcess.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

/// A private temporary directory, removed with everything in it when the test ends (even when it
/// fails).
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "heimdallr-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Writes `text` to a file called `name` in the directory and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file) << text;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

/// The server's arguments with `configPath` instead of the repository config, and loopback,
/// port 0 and the built plugins, so that nothing but the config under test can make it fail.
std::vector<std::string> argsWithConfig(const std::string& configPath) {
  std::vector<std::string> args = ServerProcess::defaultArgs();
  args.at(1) = configPath;
  return args;
}

std::vector<std::string> defaultArgsPlus(const std::vector<std::string>& more) {
  std::vector<std::string> args = ServerProcess::defaultArgs();
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

/// A configuration error: the process exits by itself (not killed after the timeout, not by a
/// signal) with a non-zero code, and says what is wrong.
void expectConfigFailure(const ServerProcess::Outcome& outcome,
                         const std::vector<std::string>& mentions) {
  EXPECT_GT(outcome.exitCode, 0) << "exit code " << outcome.exitCode
                                 << " (-1: still running at the timeout); output:\n"
                                 << outcome.output;
  EXPECT_LT(outcome.exitCode, 128) << "killed by a signal; output:\n" << outcome.output;
  for (const auto& text : mentions) {
    EXPECT_NE(std::string::npos, outcome.output.find(text))
        << "output does not mention \"" << text << "\":\n"
        << outcome.output;
  }
  EXPECT_EQ(std::string::npos, outcome.output.find("listening on")) << outcome.output;
}
}  // namespace

TEST(Startup, unknown_config_key_fails_naming_the_key_and_the_file) {
  TempDir dir;
  const std::string config = dir.write("typo.yaml", "server:\n  prot: 9000\n");
  expectConfigFailure(ServerProcess::runToExit(argsWithConfig(config), 10s),
                      {"server.prot", config});
}

TEST(Startup, config_value_of_the_wrong_type_fails_naming_the_key_and_the_file) {
  TempDir dir;
  const std::string config = dir.write("type.yaml", "limits:\n  max_message_bytes: lots\n");
  expectConfigFailure(ServerProcess::runToExit(argsWithConfig(config), 10s),
                      {"limits.max_message_bytes", config});
}

TEST(Startup, quoted_number_for_an_integer_fails_naming_the_key_and_the_file) {
  TempDir dir;
  const std::string config = dir.write("quoted.yaml", "limits:\n  idle_timeout_s: \"30\"\n");
  expectConfigFailure(ServerProcess::runToExit(argsWithConfig(config), 10s),
                      {"limits.idle_timeout_s", config});
}

TEST(Startup, out_of_range_config_value_fails_naming_the_key_and_the_file) {
  TempDir dir;
  const std::string config = dir.write("range.yaml", "limits:\n  send_queue_bytes: 10\n");
  expectConfigFailure(ServerProcess::runToExit(argsWithConfig(config), 10s),
                      {"limits.send_queue_bytes", config});
}

TEST(Startup, out_of_range_override_fails_naming_the_key) {
  expectConfigFailure(
      ServerProcess::runToExit(defaultArgsPlus({"--set", "server.io_threads=100000"}), 10s),
      {"server.io_threads", "--set"});
}

TEST(Startup, unknown_bus_plugin_fails_naming_bus_plugin) {
  expectConfigFailure(
      ServerProcess::runToExit(defaultArgsPlus({"--set", "bus.plugin=nosuch"}), 10s),
      {"bus.plugin"});
}

TEST(Startup, missing_plugin_directory_fails_naming_bus_plugin) {
  expectConfigFailure(
      ServerProcess::runToExit(defaultArgsPlus({"--set", "bus.plugin_dir=/nonexistent"}), 10s),
      {"bus.plugin", "/nonexistent"});
}

TEST(Startup, unknown_plugin_option_fails_naming_the_option) {
  expectConfigFailure(
      ServerProcess::runToExit(defaultArgsPlus({"--set", "bus.inmem.bogus=1"}), 10s),
      {"bus.inmem.bogus"});
}

TEST(Startup, history_or_presence_with_a_plugin_without_storage_fails_naming_the_key) {
  expectConfigFailure(
      ServerProcess::runToExit(
          defaultArgsPlus({"--set", "bus.plugin_dir=" HEIMDALLR_NOSTORAGE_PLUGIN_DIR, "--set",
                           "history.size=10"}),
          10s),
      {"history.size", "no history or presence"});
  expectConfigFailure(
      ServerProcess::runToExit(
          defaultArgsPlus({"--set", "bus.plugin_dir=" HEIMDALLR_NOSTORAGE_PLUGIN_DIR, "--set",
                           "room_rules=[{match: a, presence: {enabled: true}}]"}),
          10s),
      {"room_rules[0].presence.enabled"});
}

TEST(Startup, port_already_in_use_fails) {
  // An ordinary listener (no SO_REUSEPORT) holds the port.
  Poco::Net::ServerSocket holder;
  holder.bind(Poco::Net::SocketAddress("127.0.0.1", 0), /*reuseAddress=*/false,
              /*reusePort=*/false);
  holder.listen();
  const std::string port = std::to_string(holder.address().port());
  const auto outcome =
      ServerProcess::runToExit(defaultArgsPlus({"--set", "server.port=" + port}), 10s);
  expectConfigFailure(outcome, {"server.port", port});
}

TEST(Startup, port_held_by_a_poco_server_socket_is_not_shared) {
  // Poco::Net::ServerSocket(address) binds with SO_REUSEADDR and SO_REUSEPORT. A server that
  // also asks for SO_REUSEPORT would silently share the port (and split the connections) with
  // whatever holds it, instead of failing.
  Poco::Net::ServerSocket holder(Poco::Net::SocketAddress("127.0.0.1", 0));
  const std::string port = std::to_string(holder.address().port());
  // A failing start takes milliseconds; still running after 2 s means it is serving.
  const auto outcome =
      ServerProcess::runToExit(defaultArgsPlus({"--set", "server.port=" + port}), 2s);
  expectConfigFailure(outcome, {"server.port", port});
}

TEST(Startup, help_exits_0_and_lists_the_options) {
  const auto outcome = ServerProcess::runToExit({"--help"}, 10s);
  EXPECT_EQ(0, outcome.exitCode) << outcome.output;
  EXPECT_NE(std::string::npos, outcome.output.find("--config")) << outcome.output;
  EXPECT_NE(std::string::npos, outcome.output.find("--set")) << outcome.output;
  EXPECT_EQ(std::string::npos, outcome.output.find("listening on")) << outcome.output;
}

}  // namespace heimdallr::test
