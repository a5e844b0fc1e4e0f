// End-to-end chat through the real server: rooms, fan-out, order, frame kinds, a real client
// library (POCO's WebSocket) next to the raw test client.
#include <Poco/Buffer.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/WebSocket.h>
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <memory>

#include "support/ServerProcess.h"
#include "support/WsTestClient.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;

std::unique_ptr<Poco::Net::WebSocket> pocoClient(uint16_t port, const std::string& path,
                                                 Poco::Net::HTTPClientSession& session) {
  Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                 Poco::Net::HTTPMessage::HTTP_1_1);
  Poco::Net::HTTPResponse response;
  auto ws = std::make_unique<Poco::Net::WebSocket>(session, request, response);
  ws->setReceiveTimeout(Poco::Timespan(5, 0));
  (void)port;
  return ws;
}
}  // namespace

TEST(Chat, two_clients_in_a_room_both_receive_and_another_room_sees_nothing) {
  ServerProcess server;
  WsTestClient alice(server.port()), bob(server.port()), carol(server.port());
  ASSERT_EQ(101, alice.handshake("/42"));
  ASSERT_EQ(101, bob.handshake("/42"));
  ASSERT_EQ(101, carol.handshake("/43"));
  alice.sendText("hello from alice");
  for (auto* c : {&alice, &bob}) {
    auto frame = c->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(ws::Opcode::kText, frame->opcode);
    EXPECT_EQ("hello from alice", frame->payload);
  }
  EXPECT_FALSE(carol.receive(300ms));
}

TEST(Chat, binary_frames_are_relayed_as_binary_and_payloads_are_untouched) {
  ServerProcess server;
  WsTestClient a(server.port()), b(server.port());
  ASSERT_EQ(101, a.handshake("/bin"));
  ASSERT_EQ(101, b.handshake("/bin"));
  const std::string bytes("\x00\xff\x80\x7f binary", 12);
  a.sendBinary(bytes);
  auto frame = b.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(ws::Opcode::kBinary, frame->opcode);
  EXPECT_EQ(bytes, frame->payload);
  // JSON or not, text is relayed as it came: no envelope.
  a.sendText(R"({"msgType":"user","text":"hi"})");
  frame = b.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(R"({"msgType":"user","text":"hi"})", frame->payload);
}

TEST(Chat, a_fragmented_message_is_relayed_as_one_message) {
  ServerProcess server;
  WsTestClient a(server.port()), b(server.port());
  ASSERT_EQ(101, a.handshake("/frag"));
  ASSERT_EQ(101, b.handshake("/frag"));
  a.sendFrame(ws::Opcode::kText, "Hel", false);
  a.sendFrame(ws::Opcode::kContinuation, "lo, ", false);
  a.sendFrame(ws::Opcode::kContinuation, "world", true);
  auto frame = b.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ("Hello, world", frame->payload);
}

TEST(Chat, a_message_at_the_size_limit_is_relayed_intact) {
  ServerProcess server;
  WsTestClient a(server.port()), b(server.port());
  ASSERT_EQ(101, a.handshake("/big"));
  ASSERT_EQ(101, b.handshake("/big"));
  std::string big(65536, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  a.sendText(big);
  auto frame = b.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(big, frame->payload);
}

TEST(Chat, every_member_gets_every_message_once_in_each_senders_order) {
  ServerProcess server({"server.io_threads=2"});
  constexpr int kClients = 4;
  constexpr int kPerSender = 250;
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<WsTestClient>(server.port()));
    ASSERT_EQ(101, clients.back()->handshake("/order"));
  }
  for (int n = 0; n < kPerSender; ++n) {
    for (int s = 0; s < kClients; ++s) {
      clients[s]->sendText(std::to_string(s) + ":" + std::to_string(n));
    }
  }
  for (int r = 0; r < kClients; ++r) {
    std::map<int, int> next;  // sender -> next expected sequence number
    for (int i = 0; i < kClients * kPerSender; ++i) {
      auto frame = clients[r]->receive();
      ASSERT_TRUE(frame) << "client " << r << " got only " << i << " messages";
      const auto colon = frame->payload.find(':');
      const int sender = std::stoi(frame->payload.substr(0, colon));
      const int seq = std::stoi(frame->payload.substr(colon + 1));
      ASSERT_EQ(next[sender], seq) << "client " << r << ", sender " << sender;
      next[sender] = seq + 1;
    }
    EXPECT_FALSE(clients[r]->receive(100ms)) << "a duplicate arrived";
  }
}

TEST(Chat, poco_websocket_clients_interoperate) {
  ServerProcess server;
  Poco::Net::HTTPClientSession s1("127.0.0.1", server.port()), s2("127.0.0.1", server.port());
  auto a = pocoClient(server.port(), "/poco", s1);
  auto b = pocoClient(server.port(), "/poco", s2);
  const std::string text = "from a POCO client";
  a->sendFrame(text.data(), static_cast<int>(text.size()), Poco::Net::WebSocket::FRAME_TEXT);
  for (auto* ws : {a.get(), b.get()}) {
    Poco::Buffer<char> buffer(0);
    int flags = 0;
    const int n = ws->receiveFrame(buffer, flags);
    ASSERT_EQ(static_cast<int>(text.size()), n);
    EXPECT_EQ(text, std::string(buffer.begin(), buffer.size()));
    EXPECT_EQ(Poco::Net::WebSocket::FRAME_OP_TEXT, flags & Poco::Net::WebSocket::FRAME_OP_BITMASK);
  }
  a->shutdown();  // a clean close: the server echoes 1000
  Poco::Buffer<char> buffer(0);
  int flags = 0;
  a->receiveFrame(buffer, flags);
  EXPECT_EQ(Poco::Net::WebSocket::FRAME_OP_CLOSE, flags & Poco::Net::WebSocket::FRAME_OP_BITMASK);
}

TEST(Chat, shutdown_says_going_away_to_connected_clients) {
  auto server = std::make_unique<ServerProcess>();
  WsTestClient a(server->port());
  ASSERT_EQ(101, a.handshake("/bye"));
  auto stopped = std::async(std::launch::async, [&] { return server->stop(); });
  EXPECT_EQ(1001, a.receiveCloseCode());
  EXPECT_EQ(0, stopped.get());
}

}  // namespace heimdallr::test
