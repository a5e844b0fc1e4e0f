// Graceful drain of the real server on SIGTERM/SIGINT: /health goes 503 at once, upgrades are
// refused, clients are closed with 1001 and a reconnect hint in batches spread over
// server.drain_s, and the process exits 0 within it. A second signal exits at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"
#include "ws/CloseCode.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Goodbye {
  uint16_t code = 0;
  std::string reason;
  Clock::time_point at;
};

std::vector<std::unique_ptr<WsTestClient>> connect(uint16_t port, const std::string& room,
                                                   int count) {
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(port));
    if (clients.back()->handshake("/" + room) != 101) throw std::runtime_error("no upgrade");
  }
  return clients;
}
}  // namespace

TEST(Drain, sigterm_closes_clients_in_batches_with_1001_and_a_hint_then_exits_0) {
  constexpr int kClients = 40;
  ServerProcess server({"server.drain_s=2"});
  auto clients = connect(server.port(), "drain", kClients);
  ASSERT_EQ(kClients, waitForRoomMembers(server.port(), "drain", kClients));

  const auto signalled = Clock::now();
  server.signal(SIGTERM);
  // At once (as soon as the signal is taken): the load balancer's health check fails and nobody
  // new gets in.
  int health = 0;
  while ((health = httpGet(server.port(), "/health").status) == 200 &&
         Clock::now() - signalled < 100ms) {
  }
  EXPECT_EQ(503, health);
  WsTestClient late(server.port());
  EXPECT_EQ(503, late.handshake("/drain"));

  std::vector<Goodbye> goodbyes(kClients);
  std::vector<bool> done(kClients, false);
  int remaining = kClients;
  while (remaining > 0 && Clock::now() - signalled < 5s) {
    for (int i = 0; i < kClients; ++i) {
      if (done[i]) continue;
      while (auto frame = clients[i]->receive(1ms)) {
        if (frame->opcode != ws::Opcode::kClose) continue;
        goodbyes[i] = {frame->closeCode, frame->payload, Clock::now()};
        done[i] = true;
        --remaining;
        break;
      }
    }
  }
  ASSERT_EQ(0, remaining) << "clients not closed within 5 s";

  const std::regex hint("server draining; reconnect in ([0-9]+) ms");
  for (const Goodbye& goodbye : goodbyes) {
    EXPECT_EQ(ws::close_code::kGoingAway, goodbye.code);
    std::smatch match;
    ASSERT_TRUE(std::regex_match(goodbye.reason, match, hint)) << goodbye.reason;
    EXPECT_LE(std::stoul(match[1].str()), 1000u);
  }
  const auto [first, last] = std::minmax_element(goodbyes.begin(), goodbyes.end(),
                                                 [](auto& a, auto& b) { return a.at < b.at; });
  // Batches over 60% of 2 s: the closes are spread, not one burst.
  EXPECT_GE(last->at - first->at, 700ms);
  EXPECT_LE(last->at - signalled, 1500ms);

  EXPECT_EQ(0, server.waitForExit(3s)) << "exit status after a drain";
  EXPECT_LE(Clock::now() - signalled, 2500ms) << "took longer than server.drain_s";
  EXPECT_TRUE(server.waitForLog("drained; exiting", 1s));
}

TEST(Drain, sigint_drains_too_and_an_idle_server_exits_at_once) {
  ServerProcess server({"server.drain_s=30"});
  const auto signalled = Clock::now();
  server.signal(SIGINT);
  EXPECT_EQ(0, server.waitForExit(5s));
  // No sessions: nothing to spread, so no waiting for the 30 s (only the flush tail).
  EXPECT_LT(Clock::now() - signalled, 4s);
}

TEST(Drain, a_second_signal_during_the_drain_exits_at_once) {
  ServerProcess server({"server.drain_s=30"});
  auto clients = connect(server.port(), "stay", 5);
  ASSERT_EQ(5, waitForRoomMembers(server.port(), "stay", 5));
  server.signal(SIGTERM);
  ASSERT_TRUE(server.waitForLog("a second signal exits at once", 5s));
  EXPECT_EQ(-1, server.waitForExit(300ms)) << "the drain of 30 s should still be running";
  const auto second = Clock::now();
  server.signal(SIGTERM);
  EXPECT_EQ(128 + SIGTERM, server.waitForExit(2s));
  EXPECT_LT(Clock::now() - second, 1s);
}

TEST(Drain, drain_s_zero_closes_every_client_at_once) {
  ServerProcess server({"server.drain_s=0"});
  auto clients = connect(server.port(), "now", 10);
  ASSERT_EQ(10, waitForRoomMembers(server.port(), "now", 10));
  server.signal(SIGTERM);
  for (auto& client : clients) {
    EXPECT_EQ(ws::close_code::kGoingAway, client->receiveCloseCode(2s));
  }
  EXPECT_EQ(0, server.waitForExit(3s));
}

}  // namespace heimdallr::test
