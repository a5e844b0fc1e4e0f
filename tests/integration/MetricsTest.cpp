// GET /metrics on a real server: each metric moves when its event happens, and the exposition
// passes promtool.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <thread>

#include "support/MetricsScrape.h"
#include "support/ServerProcess.h"
#include "support/WsTestClient.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

/// Polls the scrape until `condition` holds (metrics are merged from the loops asynchronously).
bool eventually(uint16_t port, const std::function<bool(const MetricsScrape&)>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition(MetricsScrape(port))) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}
}  // namespace

TEST(Metrics, ten_messages_to_a_room_of_three_count_thirty_deliveries_and_ten_fanouts) {
  ServerProcess server({"server.io_threads=2"});
  std::vector<std::unique_ptr<WsTestClient>> members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(std::make_unique<WsTestClient>(server.port()));
    ASSERT_EQ(101, members.back()->handshake("/metered"));
  }
  ASSERT_TRUE(eventually(server.port(), [](const MetricsScrape& m) {
    return m.value("heimdallr_connections") == 3 && m.value("heimdallr_rooms") == 1;
  }));
  const MetricsScrape before(server.port());
  for (int i = 0; i < 10; ++i) members[0]->sendText("m" + std::to_string(i));
  for (auto& member : members) {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(member->receive());
  }
  ASSERT_TRUE(eventually(server.port(), [&](const MetricsScrape& m) {
    return m.value("heimdallr_messages_delivered_total") ==
           before.value("heimdallr_messages_delivered_total") + 30;
  }));
  const MetricsScrape after(server.port());
  auto delta = [&](const std::string& sample) {
    return after.value(sample) - before.value(sample);
  };
  EXPECT_EQ(10, delta("heimdallr_messages_received_total"));
  EXPECT_EQ(10, delta("heimdallr_messages_published_total{source=\"client\"}"));
  EXPECT_EQ(10, delta("heimdallr_fanout_recipients_count"));
  EXPECT_EQ(30, delta("heimdallr_fanout_recipients_sum"));
  EXPECT_EQ(30, delta("heimdallr_delivery_latency_seconds_count{path=\"local\"}"));
  EXPECT_EQ(0, delta("heimdallr_delivery_latency_seconds_count{path=\"bus\"}"));
  EXPECT_GT(delta("heimdallr_bytes_received_total"), 0);
  EXPECT_GT(delta("heimdallr_bytes_sent_total"), 0);
  EXPECT_EQ(3, after.value("heimdallr_connections_opened_total"));
  EXPECT_EQ(1, after.value("heimdallr_bus_up"));
  EXPECT_GT(after.value("process_resident_memory_bytes"), 0);
  EXPECT_GT(after.value("process_open_fds"), 3);
}

TEST(Metrics, closes_are_counted_by_reason) {
  ServerProcess server({"limits.max_message_bytes=16", "limits.idle_timeout_s=1"});
  {
    WsTestClient bad(server.port());
    ASSERT_EQ(101, bad.handshake("/r"));
    bad.sendRaw(ws::encodeFrame(ws::Opcode::kText, "unmasked"));
    EXPECT_EQ(1002, bad.receiveCloseCode());
  }
  {
    WsTestClient big(server.port());
    ASSERT_EQ(101, big.handshake("/r"));
    big.sendText(std::string(100, 'x'));
    EXPECT_EQ(1009, big.receiveCloseCode());
  }
  {
    WsTestClient polite(server.port());
    ASSERT_EQ(101, polite.handshake("/r"));
    polite.sendFrame(ws::Opcode::kClose, std::string("\x03\xe8", 2));
    EXPECT_EQ(1000, polite.receiveCloseCode());
  }
  {
    WsTestClient sleepy(server.port());
    ASSERT_EQ(101, sleepy.handshake("/r"));
    EXPECT_EQ(4000, sleepy.receiveCloseCode(5s));
  }
  EXPECT_TRUE(eventually(server.port(), [](const MetricsScrape& m) {
    return m.value("heimdallr_connections_closed_total{reason=\"protocol_error\"}") == 1 &&
           m.value("heimdallr_connections_closed_total{reason=\"too_big\"}") == 1 &&
           m.value("heimdallr_connections_closed_total{reason=\"normal\"}") == 1 &&
           m.value("heimdallr_connections_closed_total{reason=\"idle\"}") == 1 &&
           m.value("heimdallr_connections") == 0;
  })) << MetricsScrape(server.port()).text();
}

TEST(Metrics, a_slow_consumer_is_counted_as_a_close_and_as_dropped_messages) {
  // A sender as fast as the socket allows: no message rate limit here.
  ServerProcess server({"limits.send_queue_bytes=65536", "limits.messages_per_second=0"});
  WsTestClient reader(server.port()), sleeper(server.port(), 4096);
  ASSERT_EQ(101, reader.handshake("/slow"));
  ASSERT_EQ(101, sleeper.handshake("/slow"));
  const std::string chunk(4096, 's');
  constexpr int kMessages = 2000;  // 8 MiB: more than the kernel's socket buffers can hide
  std::thread drain([&] {
    for (int got = 0; got < kMessages && reader.receive(5s);) ++got;
  });
  for (int i = 0; i < kMessages; ++i) reader.sendText(chunk);
  drain.join();
  EXPECT_TRUE(eventually(server.port(), [](const MetricsScrape& m) {
    return m.value("heimdallr_connections_closed_total{reason=\"slow_consumer\"}") == 1 &&
           m.value("heimdallr_messages_dropped_total{reason=\"slow_consumer\"}") >= 1;
  })) << MetricsScrape(server.port()).text();
}

TEST(Metrics, exposition_passes_promtool_check_metrics) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "no promtool";
  ServerProcess server;
  WsTestClient client(server.port());
  ASSERT_EQ(101, client.handshake("/p"));
  client.sendText("x");
  ASSERT_TRUE(client.receive());
  const std::string path = ::testing::TempDir() + "heimdallr-metrics.txt";
  std::ofstream(path) << MetricsScrape(server.port()).text();
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(nullptr, pipe);
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = ::pclose(pipe);
  std::remove(path.c_str());
  EXPECT_EQ(0, status) << output;
}

TEST(Metrics, disabled_metrics_are_not_served) {
  ServerProcess server({"metrics.enabled=false"});
  EXPECT_EQ(404, httpGet(server.port(), "/metrics").status);
}

}  // namespace heimdallr::test
