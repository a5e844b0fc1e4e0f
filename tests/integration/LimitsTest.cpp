// Abuse limits against the real server: connections per node and per IP, browser origins, the
// per-session message rate, slowloris and oversized heads. Each refusal has its status or close
// code, is counted in /metrics, and leaves everybody else alone.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/MetricsScrape.h"
#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"
#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double refused(uint16_t port, const std::string& reason) {
  return MetricsScrape(port).value("heimdallr_requests_refused_total{reason=\"" + reason + "\"}");
}

int statusOf(const std::string& response) {
  return response.size() > 12 ? std::stoi(response.substr(9, 3)) : 0;
}

/// Every text message `client` receives within `window`, skipping pings.
std::vector<std::string> drainTexts(WsTestClient& client, std::chrono::milliseconds window) {
  std::vector<std::string> texts;
  const auto until = Clock::now() + window;
  while (Clock::now() < until) {
    auto frame = client.receive(
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()) + 1ms);
    if (!frame) break;
    if (frame->opcode == ws::Opcode::kText) texts.push_back(frame->payload);
  }
  return texts;
}

/// True when `a` and `b`, both in one room, can still talk.
bool talk(WsTestClient& a, WsTestClient& b, const std::string& text) {
  a.sendText(text);
  for (auto frame = b.receive(); frame; frame = b.receive()) {
    if (frame->opcode == ws::Opcode::kText) return frame->payload == text;
  }
  return false;
}
}  // namespace

TEST(Limits, max_connections_refuses_further_upgrades_with_503_and_counts_them) {
  ServerProcess server({"limits.max_connections=2"});
  WsTestClient a(server.port()), b(server.port()), c(server.port());
  ASSERT_EQ(101, a.handshake("/full"));
  ASSERT_EQ(101, b.handshake("/full"));
  EXPECT_EQ(503, c.handshake("/full"));
  EXPECT_EQ(1, refused(server.port(), "max_connections"));
  EXPECT_TRUE(talk(a, b, "the two inside are fine"));
}

TEST(Limits, max_connections_per_ip_refuses_with_429_only_that_address) {
  ServerProcess server({"limits.max_connections_per_ip=2"});
  WsTestClient first(server.port(), std::string("127.0.0.1"));
  WsTestClient second(server.port(), std::string("127.0.0.1"));
  ASSERT_EQ(101, first.handshake("/ip"));
  ASSERT_EQ(101, second.handshake("/ip"));
  {
    WsTestClient third(server.port(), std::string("127.0.0.1"));
    EXPECT_EQ(429, third.handshake("/ip"));
  }
  WsTestClient elsewhere(server.port(), std::string("127.0.0.2"));
  EXPECT_EQ(101, elsewhere.handshake("/ip")) << "another address has its own allowance";
  EXPECT_EQ(1, refused(server.port(), "max_connections_per_ip"));

  // A session that ends gives its slot back.
  first.sendFrame(ws::Opcode::kClose, std::string("\x03\xe8", 2));
  ASSERT_TRUE(first.waitForEof());
  const auto deadline = Clock::now() + 5s;
  int status = 0;
  std::unique_ptr<WsTestClient> again;
  while (Clock::now() < deadline) {
    again = std::make_unique<WsTestClient>(server.port(), std::string("127.0.0.1"));
    if ((status = again->handshake("/ip")) == 101) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(101, status);
  EXPECT_TRUE(talk(second, elsewhere, "still talking"));
}

TEST(Limits, allowed_origins_refuse_other_browser_origins_with_403) {
  ServerProcess server({"server.allowed_origins=[http://chat.example:8000]"});
  WsTestClient good(server.port()), evil(server.port()), script(server.port());
  EXPECT_EQ(101, good.handshake("/o", {"Origin: http://chat.example:8000"}));
  EXPECT_EQ(403, evil.handshake("/o", {"Origin: http://evil.example"}));
  EXPECT_EQ(101, script.handshake("/o")) << "no Origin: not a browser";
  EXPECT_EQ(1, refused(server.port(), "origin"));
  EXPECT_TRUE(talk(good, script, "allowed ones talk"));
}

TEST(Limits, messages_past_the_rate_limit_are_dropped_and_counted_and_the_session_stays) {
  ServerProcess server(
      {"limits.messages_per_second=10", "limits.burst=5", "limits.rate_limit_action=drop"});
  WsTestClient flooder(server.port()), listener(server.port());
  ASSERT_EQ(101, flooder.handshake("/rate"));
  ASSERT_EQ(101, listener.handshake("/rate"));
  ASSERT_EQ(2, waitForRoomMembers(server.port(), "rate", 2));

  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i) flooder.sendText("flood " + std::to_string(i));
  const auto sendTime = Clock::now() - start;
  const auto heard = drainTexts(listener, 500ms);
  // The burst of 5, plus at most one token a 100 ms while the 100 sends took.
  const auto refill = static_cast<size_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(sendTime).count() / 100 + 1);
  EXPECT_GE(heard.size(), 5u);
  EXPECT_LE(heard.size(), 5u + refill);
  ASSERT_FALSE(heard.empty());
  EXPECT_EQ("flood 0", heard.front()) << "the first messages are the ones let through";

  const MetricsScrape metrics(server.port());
  EXPECT_EQ(100 - static_cast<double>(heard.size()),
            metrics.value("heimdallr_messages_dropped_total{reason=\"rate_limited\"}"));
  EXPECT_EQ(100, metrics.value("heimdallr_messages_received_total"));

  // After a quiet second the bucket has refilled and the session was never closed.
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(talk(flooder, listener, "after the pause"));
}

// Past the limit a drop-mode session stops reading until a tenth of a second's tokens are back:
// the flood waits in the kernel, TCP stalls the flooder, and the loop (one here, shared with the
// calm pair) does not spend its time decoding messages it would drop anyway.
TEST(Limits, a_drop_mode_flooder_is_held_back_by_tcp_instead_of_being_read_at_full_speed) {
  ServerProcess server({"server.io_threads=1", "limits.messages_per_second=10", "limits.burst=5",
                        "limits.rate_limit_action=drop"});
  WsTestClient flooder(server.port()), listener(server.port());
  WsTestClient calmA(server.port()), calmB(server.port());
  ASSERT_EQ(101, flooder.handshake("/flood"));
  ASSERT_EQ(101, listener.handshake("/flood"));
  ASSERT_EQ(101, calmA.handshake("/calm"));
  ASSERT_EQ(101, calmB.handshake("/calm"));
  ASSERT_EQ(2, waitForRoomMembers(server.port(), "flood", 2));
  ASSERT_EQ(2, waitForRoomMembers(server.port(), "calm", 2));

  std::string chunk;  // 64 KiB of 5-byte text messages, written without blocking
  while (chunk.size() < 64 * 1024) chunk += ws::encodeMaskedFrame(ws::Opcode::kText, "flood", 7);
  const int fd = flooder.socket().impl()->sockfd();
  size_t pushed = 0;
  auto pushFor = [&](std::chrono::milliseconds duration) {
    const auto until = Clock::now() + duration;
    while (Clock::now() < until) {
      const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        pushed += static_cast<size_t>(n);
      } else {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 10);
      }
    }
  };
  const auto floodStart = Clock::now();
  pushFor(1500ms);  // fills the socket buffers between flooder and server
  const std::string bytesSample = "heimdallr_bytes_received_total";
  const double readBefore = MetricsScrape(server.port()).value(bytesSample);
  std::thread flood([&] { pushFor(1000ms); });
  // The calm pair shares the flooder's loop and keeps talking.
  int calmHeard = 0;
  for (int i = 0; i < 5; ++i) calmHeard += talk(calmA, calmB, "calm " + std::to_string(i));
  flood.join();
  const double readDuring = MetricsScrape(server.port()).value(bytesSample) - readBefore;
  const double floodSeconds = std::chrono::duration<double>(Clock::now() - floodStart).count();

  EXPECT_EQ(5, calmHeard);
  // Unthrottled, a loop decodes tens of MB of this a second. Throttled, it reads one 64 KiB
  // buffer per resume, ten times a second: well under 4 MiB in the measured second.
  EXPECT_LT(readDuring, 4.0 * 1024 * 1024) << "the server kept reading the flood: " << readDuring
                                           << " bytes in 1 s, " << pushed << " bytes pushed in all";
  const auto heard = drainTexts(listener, 300ms);
  EXPECT_GE(heard.size(), 5u);
  EXPECT_LE(static_cast<double>(heard.size()), 5 + 10 * (floodSeconds + 0.3) + 2);
  EXPECT_GT(MetricsScrape(server.port())
                .value("heimdallr_messages_dropped_total{reason=\"rate_limited\"}"),
            0);
  EXPECT_EQ(0, MetricsScrape(server.port())
                   .value("heimdallr_connections_closed_total"
                          "{reason=\"rate_limited\"}"))
      << "drop mode keeps the session";

  // A paused session still hears a drain (its reads resume to see the EOF), and the node exits 0.
  server.signal(SIGTERM);
  EXPECT_EQ(ws::close_code::kGoingAway, flooder.receiveCloseCode());
  EXPECT_EQ(0, server.waitForExit(5s));
}

TEST(Limits, rate_limit_action_close_closes_the_flooder_with_4029_and_spares_the_room) {
  ServerProcess server(
      {"limits.messages_per_second=10", "limits.burst=5", "limits.rate_limit_action=close"});
  WsTestClient flooder(server.port()), a(server.port()), b(server.port());
  ASSERT_EQ(101, flooder.handshake("/rate"));
  ASSERT_EQ(101, a.handshake("/rate"));
  ASSERT_EQ(101, b.handshake("/rate"));
  ASSERT_EQ(3, waitForRoomMembers(server.port(), "rate", 3));

  for (int i = 0; i < 50; ++i) flooder.sendText("flood " + std::to_string(i));
  EXPECT_EQ(ws::close_code::kRateLimited, flooder.receiveCloseCode());
  EXPECT_TRUE(flooder.waitForEof());
  EXPECT_EQ(1, MetricsScrape(server.port())
                   .value("heimdallr_connections_closed_total{reason=\"rate_limited\"}"));
  drainTexts(a, 200ms);
  drainTexts(b, 200ms);
  EXPECT_TRUE(talk(a, b, "the others stay"));
}

TEST(Limits, a_connection_that_never_sends_a_byte_is_closed_and_counted_as_handshake_timeout) {
  ServerProcess server({"limits.handshake_timeout_ms=300"});
  Poco::Net::StreamSocket silent(Poco::Net::SocketAddress("127.0.0.1", server.port()));
  silent.setReceiveTimeout(Poco::Timespan(5, 0));
  char byte;
  EXPECT_EQ(0, silent.receiveBytes(&byte, 1)) << "the server should hang up";
  EXPECT_EQ(1, refused(server.port(), "handshake_timeout"));
}

TEST(Limits, half_sent_request_and_oversized_head_are_counted_by_reason) {
  ServerProcess server({"limits.handshake_timeout_ms=300", "limits.max_header_bytes=1024"});
  EXPECT_EQ(408, statusOf(rawHttpExchange(server.port(), "GET /42 HTTP/1.1\r\nHost: x\r\n")));
  EXPECT_EQ(431, statusOf(rawHttpExchange(server.port(), "GET /42 HTTP/1.1\r\nX-Big: " +
                                                             std::string(2048, 'a') + "\r\n\r\n")));
  EXPECT_EQ(1, refused(server.port(), "handshake_timeout"));
  EXPECT_EQ(1, refused(server.port(), "header_too_large"));
}

// The idle timeout must hold while the server is busy: listeners of a busy room receive traffic
// all the time, but only what a client sends proves it alive. Deaf clients (that never answer a
// ping) are closed with 4000; clients that answer pings stay, and every one of them gets every
// message.
TEST(Limits, idle_timeout_with_ping_pong_holds_under_load) {
  ServerProcess server({"limits.idle_timeout_s=1", "limits.messages_per_second=0"});
  constexpr int kEach = 20;
  std::vector<std::unique_ptr<WsTestClient>> deaf, alive;
  for (int i = 0; i < kEach; ++i) {
    deaf.push_back(std::make_unique<WsTestClient>(server.port()));
    ASSERT_EQ(101, deaf.back()->handshake("/busy"));
    alive.push_back(std::make_unique<WsTestClient>(server.port()));
    ASSERT_EQ(101, alive.back()->handshake("/busy"));
  }
  WsTestClient publisher(server.port());
  ASSERT_EQ(101, publisher.handshake("/busy"));
  ASSERT_EQ(2 * kEach + 1, waitForRoomMembers(server.port(), "busy", 2 * kEach + 1));

  // Background load on the same server: a pair in another room, sending and reading as fast as
  // they can for the whole test.
  std::atomic<bool> stopNoise{false};
  std::atomic<int> noiseSent{0};
  std::thread noise([&] {
    WsTestClient sender(server.port()), reader(server.port());
    if (sender.handshake("/noise") != 101 || reader.handshake("/noise") != 101) return;
    const std::string payload(512, 'n');
    while (!stopNoise) {
      for (int k = 0; k < 50; ++k) sender.sendText(payload);
      noiseSent += 50;
      while (auto frame = reader.receive(1ms)) {
        if (frame->opcode == ws::Opcode::kPing) reader.sendFrame(ws::Opcode::kPong, frame->payload);
      }
      while (sender.receive(1ms)) {
      }
    }
  });
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinOnExit() {
      stop = true;
      thread.join();
    }
  } joinNoise{stopNoise, noise};

  std::vector<int> deafClose(kEach, 0);
  std::vector<int> aliveCount(kEach, 0);
  int sent = 0;
  const auto until = Clock::now() + 4s;
  while (Clock::now() < until) {
    for (int k = 0; k < 10; ++k) {
      publisher.sendText("tick " + std::to_string(sent++));  // sending keeps the publisher alive
    }
    for (int i = 0; i < kEach; ++i) {
      while (auto frame = alive[i]->receive(1ms)) {
        if (frame->opcode == ws::Opcode::kPing)
          alive[i]->sendFrame(ws::Opcode::kPong, frame->payload);
        if (frame->opcode == ws::Opcode::kText) ++aliveCount[i];
        ASSERT_NE(ws::Opcode::kClose, frame->opcode) << "a client answering pings was closed";
      }
      if (deafClose[i] != 0) continue;
      while (auto frame = deaf[i]->receive(1ms)) {
        if (frame->opcode == ws::Opcode::kClose) deafClose[i] = frame->closeCode;
      }
    }
    while (publisher.receive(1ms)) {
    }
  }
  for (int i = 0; i < kEach; ++i) {
    EXPECT_EQ(ws::close_code::kIdleTimeout, deafClose[i]) << "deaf client " << i;
  }
  // Let the last ticks arrive, then every live client has all of them.
  for (int i = 0; i < kEach; ++i) {
    while (aliveCount[i] < sent) {
      auto frame = alive[i]->receive(2s);
      ASSERT_TRUE(frame) << "live client " << i << " got " << aliveCount[i] << " of " << sent;
      if (frame->opcode == ws::Opcode::kText) ++aliveCount[i];
      if (frame->opcode == ws::Opcode::kPing)
        alive[i]->sendFrame(ws::Opcode::kPong, frame->payload);
    }
    EXPECT_EQ(sent, aliveCount[i]);
  }
  EXPECT_GT(sent, 100);
  EXPECT_GT(noiseSent.load(), 1000) << "the background load did not run";
  EXPECT_EQ(
      kEach,
      MetricsScrape(server.port()).value("heimdallr_connections_closed_total{reason=\"idle\"}"));
}

}  // namespace heimdallr::test
