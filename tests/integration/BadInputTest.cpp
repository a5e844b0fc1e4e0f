// Hostile and broken peers against the real server: each bad input gets the right close code or
// HTTP status, and afterwards the server still serves everybody else.
#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/HttpTestConnection.h"
#include "support/ServerProcess.h"
#include "support/StatsProbe.h"
#include "support/WsTestClient.h"
#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::test {

namespace {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kMask = 0x12345678;

/// A fresh room name per call, so checks never see each other's messages.
std::string freshRoom() {
  static std::atomic<int> counter{0};
  return "fresh-" + std::to_string(counter++);
}

/// Two clients in room "calm", connected (and shown to talk) before an attack. Afterwards they
/// must still talk: the attack did not take the server, their loop or their room down with it.
class Bystanders {
 public:
  explicit Bystanders(uint16_t port) : speaker_(port), listener_(port) {
    if (speaker_.handshake("/calm") != 101 || listener_.handshake("/calm") != 101) {
      throw std::runtime_error("bystanders could not join /calm");
    }
    if (!exchange("before the attack")) {
      throw std::runtime_error("bystanders could not talk before the attack");
    }
  }

  /// The speaker says `text`; true when the listener hears exactly that.
  bool exchange(const std::string& text) {
    speaker_.sendText(text);
    auto heard = listener_.receive();
    return heard && heard->opcode == ws::Opcode::kText && heard->payload == text;
  }

 private:
  WsTestClient speaker_;
  WsTestClient listener_;
};

/// The server still serves everybody else: two brand-new clients in a brand-new room exchange a
/// message, and the bystanders connected before the attack still hear each other.
void expectStillServing(uint16_t port, Bystanders& bystanders) {
  SCOPED_TRACE("server must still serve others after the bad input");
  const std::string room = "/" + freshRoom();
  WsTestClient alice(port), bob(port);
  ASSERT_EQ(101, alice.handshake(room));
  ASSERT_EQ(101, bob.handshake(room));
  alice.sendText("still there?");
  auto frame = bob.receive();
  ASSERT_TRUE(frame) << "a fresh client got nothing";
  EXPECT_EQ(ws::Opcode::kText, frame->opcode);
  EXPECT_EQ("still there?", frame->payload);
  EXPECT_TRUE(bystanders.exchange("after the attack")) << "a bystander stopped hearing its room";
}

/// The server answered the bad input with a close frame carrying `code`, then hung up.
void expectClosedWith(WsTestClient& client, int code) {
  EXPECT_EQ(code, client.receiveCloseCode()) << "wrong close code (-1: none before the timeout "
                                                "or the end of the connection)";
  EXPECT_TRUE(client.waitForEof()) << "the server did not close the TCP connection";
}

/// A client joined to a fresh room, ready to misbehave.
struct Attacker {
  explicit Attacker(uint16_t port) : client(port) {
    if (client.handshake("/" + freshRoom()) != 101) throw std::runtime_error("handshake failed");
  }
  WsTestClient client;
};

/// A masked frame whose first byte (FIN, RSV1-3, opcode) is exactly `firstByte`.
std::string frameWithFirstByte(uint8_t firstByte, const std::string& payload) {
  std::string frame = ws::encodeMaskedFrame(ws::Opcode::kText, payload, kMask);
  frame[0] = static_cast<char>(firstByte);
  return frame;
}

std::string closePayload(uint16_t code, const std::string& reason = {}) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xff));
  return payload + reason;
}

int statusOf(const std::string& response) {
  if (response.size() < 12 || response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string upgradeRequest(const std::string& path, const std::string& version,
                           const std::string& keyHeader) {
  return "GET " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
         keyHeader + "Sec-WebSocket-Version: " + version + "\r\n\r\n";
}

constexpr const char* kGoodKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
}  // namespace

// ---------------------------------------------------------------------------------------------
// Frame-level protocol errors: 1002.

TEST(BadInput, unmasked_client_frame_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendRaw(ws::encodeFrame(ws::Opcode::kText, "naked"));
  expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, frame_with_any_rsv_bit_set_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const uint8_t rsv : {0x40, 0x20, 0x10}) {
    SCOPED_TRACE("RSV bit " + std::to_string(rsv));
    Attacker attacker(server.port());
    attacker.client.sendRaw(frameWithFirstByte(0x80 | rsv | 0x1, "rsv"));
    expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  }
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, reserved_data_and_control_opcodes_get_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const uint8_t opcode : {0x3, 0x7, 0xB, 0xF}) {
    SCOPED_TRACE("opcode " + std::to_string(opcode));
    Attacker attacker(server.port());
    attacker.client.sendRaw(frameWithFirstByte(0x80 | opcode, "op"));
    expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  }
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, continuation_frame_without_a_message_start_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kContinuation, "orphan", true);
  expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, new_message_inside_a_fragmented_message_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kText, "first half", false);
  attacker.client.sendFrame(ws::Opcode::kText, "a new message", true);
  expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  expectStillServing(server.port(), bystanders);
}

// ---------------------------------------------------------------------------------------------
// Text payloads: 1007.

TEST(BadInput, text_frame_with_invalid_utf8_gets_1007) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const std::string& bad : {std::string("\xff\xfe"), std::string("ok \xc0\xaf"),
                                 std::string("\xed\xa0\x80 surrogate")}) {
    Attacker attacker(server.port());
    attacker.client.sendText(bad);
    expectClosedWith(attacker.client, ws::close_code::kInvalidPayload);
  }
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, invalid_utf8_split_across_two_fragments_gets_1007) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  // "\xe2\x82" is a valid prefix of a 3-byte sequence; "(" cannot continue it.
  attacker.client.sendFrame(ws::Opcode::kText, "price: \xe2\x82", false);
  attacker.client.sendFrame(ws::Opcode::kContinuation, "(", true);
  expectClosedWith(attacker.client, ws::close_code::kInvalidPayload);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, utf8_sequence_cut_short_at_the_end_of_a_message_gets_1007) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kText, "price: \xe2\x82", true);
  expectClosedWith(attacker.client, ws::close_code::kInvalidPayload);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, valid_utf8_split_across_fragments_is_relayed_intact) {
  ServerProcess server;
  WsTestClient a(server.port()), b(server.port());
  ASSERT_EQ(101, a.handshake("/euro"));
  ASSERT_EQ(101, b.handshake("/euro"));
  a.sendFrame(ws::Opcode::kText, "price: \xe2\x82", false);
  a.sendFrame(ws::Opcode::kContinuation, "\xac 5", true);
  auto frame = b.receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(ws::Opcode::kText, frame->opcode);
  EXPECT_EQ("price: \xe2\x82\xac 5", frame->payload);
}

// ---------------------------------------------------------------------------------------------
// Size limits: 1009.

TEST(BadInput, single_frame_over_max_message_bytes_gets_1009) {
  ServerProcess server({"limits.max_message_bytes=1024"});
  Bystanders bystanders(server.port());
  {
    // Exactly the limit is fine.
    WsTestClient a(server.port()), b(server.port());
    ASSERT_EQ(101, a.handshake("/limit"));
    ASSERT_EQ(101, b.handshake("/limit"));
    a.sendBinary(std::string(1024, 'x'));
    auto frame = b.receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(1024u, frame->payload.size());
  }
  Attacker attacker(server.port());
  attacker.client.sendBinary(std::string(1025, 'x'));
  expectClosedWith(attacker.client, ws::close_code::kMessageTooBig);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, fragments_adding_up_past_max_message_bytes_get_1009) {
  ServerProcess server({"limits.max_message_bytes=1024"});
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kText, std::string(600, 'a'), false);
  attacker.client.sendFrame(ws::Opcode::kContinuation, std::string(300, 'b'), false);
  attacker.client.sendFrame(ws::Opcode::kContinuation, std::string(300, 'c'), true);
  expectClosedWith(attacker.client, ws::close_code::kMessageTooBig);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, frame_announcing_a_huge_length_gets_1009_before_the_payload_arrives) {
  ServerProcess server({"limits.max_message_bytes=1024"});
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  // A 64-bit length of 1 GiB, a mask, and no payload at all.
  std::string header("\x82\xff", 2);
  for (int shift = 56; shift >= 0; shift -= 8) {
    header.push_back(static_cast<char>((uint64_t{1} << 30) >> shift));
  }
  header.append("\x01\x02\x03\x04", 4);
  attacker.client.sendRaw(header);
  expectClosedWith(attacker.client, ws::close_code::kMessageTooBig);
  expectStillServing(server.port(), bystanders);
}

// ---------------------------------------------------------------------------------------------
// Close frames.

TEST(BadInput, close_frame_with_a_reserved_or_local_only_code_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1100, 2000, 2999, 5000}) {
    SCOPED_TRACE("close code " + std::to_string(code));
    Attacker attacker(server.port());
    attacker.client.sendFrame(ws::Opcode::kClose, closePayload(code, "x"));
    expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  }
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, close_frame_with_a_one_byte_payload_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kClose, std::string(1, '\x03'));
  expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, close_frame_with_invalid_utf8_reason_gets_1007) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kClose, closePayload(1000, "\xff"));
  expectClosedWith(attacker.client, ws::close_code::kInvalidPayload);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, valid_close_is_echoed_with_its_code_and_the_server_then_closes_tcp) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kClose, closePayload(1000, "bye"));
  expectClosedWith(attacker.client, ws::close_code::kNormal);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, application_close_code_is_echoed) {
  ServerProcess server;
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kClose, closePayload(4321, "app"));
  expectClosedWith(attacker.client, 4321);
}

// ---------------------------------------------------------------------------------------------
// Control frames.

TEST(BadInput, ping_gets_a_pong_with_the_same_payload) {
  ServerProcess server;
  Attacker attacker(server.port());
  for (const std::string& payload : {std::string(), std::string("are you there"),
                                     std::string(125, 'p'), std::string("\x00\xff", 2)}) {
    attacker.client.sendFrame(ws::Opcode::kPing, payload);
    auto frame = attacker.client.receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(ws::Opcode::kPong, frame->opcode);
    EXPECT_EQ(payload, frame->payload);
  }
}

TEST(BadInput, control_frame_with_payload_over_125_bytes_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const auto opcode : {ws::Opcode::kPing, ws::Opcode::kPong, ws::Opcode::kClose}) {
    SCOPED_TRACE("opcode " + std::to_string(static_cast<int>(opcode)));
    Attacker attacker(server.port());
    std::string payload(126, 'p');
    if (opcode == ws::Opcode::kClose) payload = closePayload(1000, std::string(124, 'r'));
    attacker.client.sendFrame(opcode, payload);
    expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  }
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, fragmented_ping_gets_1002) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  Attacker attacker(server.port());
  attacker.client.sendFrame(ws::Opcode::kPing, "half", /*fin=*/false);
  expectClosedWith(attacker.client, ws::close_code::kProtocolError);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, control_frames_between_fragments_leave_the_message_intact) {
  ServerProcess server;
  WsTestClient sender(server.port()), receiver(server.port());
  ASSERT_EQ(101, sender.handshake("/interleave"));
  ASSERT_EQ(101, receiver.handshake("/interleave"));
  sender.sendFrame(ws::Opcode::kText, "Hel", false);
  sender.sendFrame(ws::Opcode::kPing, "mid-message");
  sender.sendFrame(ws::Opcode::kContinuation, "lo, ", false);
  sender.sendFrame(ws::Opcode::kPong, "unsolicited");
  sender.sendFrame(ws::Opcode::kContinuation, "world", true);

  auto relayed = receiver.receive();
  ASSERT_TRUE(relayed);
  EXPECT_EQ(ws::Opcode::kText, relayed->opcode);
  EXPECT_EQ("Hello, world", relayed->payload);

  // The sender gets its pong and its own message, once each, in either order.
  bool sawPong = false, sawMessage = false;
  for (int i = 0; i < 2; ++i) {
    auto frame = sender.receive();
    ASSERT_TRUE(frame);
    if (frame->opcode == ws::Opcode::kPong) {
      EXPECT_FALSE(sawPong);
      EXPECT_EQ("mid-message", frame->payload);
      sawPong = true;
    } else {
      EXPECT_FALSE(sawMessage);
      EXPECT_EQ(ws::Opcode::kText, frame->opcode);
      EXPECT_EQ("Hello, world", frame->payload);
      sawMessage = true;
    }
  }
  EXPECT_TRUE(sawPong && sawMessage);
  EXPECT_FALSE(receiver.receive(200ms)) << "the receiver got more than the one message";
}

// ---------------------------------------------------------------------------------------------
// Broken handshakes and HTTP.

TEST(BadInput, half_a_handshake_then_hanging_up_leaves_no_trace) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", server.port()));
    const std::string half = "GET /42 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webso";
    socket.sendBytes(half.data(), static_cast<int>(half.size()));
  }  // closed here
  // The half-open connection is released: only the two bystanders and the /stats request itself
  // remain.
  const auto deadline = Clock::now() + 5s;
  int64_t tcp = -1;
  while (Clock::now() < deadline && (tcp = fetchStats(server.port()).tcpConnections) != 3) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(3, tcp);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, half_a_handshake_then_silence_gets_408_and_close) {
  ServerProcess server({"limits.handshake_timeout_ms=500"});
  Bystanders bystanders(server.port());
  const auto start = Clock::now();
  const std::string answer = rawHttpExchange(
      server.port(), "GET /42 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
      std::chrono::seconds(10));
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(408, statusOf(answer)) << answer;
  // rawHttpExchange returns early only when the server closes. The timeout is checked on a 1 s
  // tick, so allow for it.
  EXPECT_LT(elapsed, 3500ms);
  EXPECT_GE(elapsed, 450ms);
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, random_bytes_as_a_request_get_400_and_close) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  std::mt19937 rng(6455);
  std::string garbage;
  for (int i = 0; i < 300; ++i) garbage.push_back(static_cast<char>(rng() & 0xff));
  garbage += "\r\n\r\n";
  const std::string answer = rawHttpExchange(server.port(), garbage);
  EXPECT_EQ(400, statusOf(answer)) << answer;
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, hello_line_as_a_request_gets_400_and_close) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  const auto start = Clock::now();
  const std::string answer = rawHttpExchange(server.port(), "HELLO\r\n\r\n");
  EXPECT_EQ(400, statusOf(answer)) << answer;
  EXPECT_LT(Clock::now() - start, 3s) << "the server did not close after the 400";
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, wrong_websocket_version_gets_426_naming_version_13) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  HttpTestConnection http(server.port());
  http.send(upgradeRequest("/42", "8", kGoodKey));
  auto response = http.readResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(426, response->status) << response->head;
  EXPECT_EQ("13", response->header("Sec-WebSocket-Version").value_or("(absent)"));
  EXPECT_TRUE(http.waitForEof());
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, missing_or_malformed_websocket_key_gets_400) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const std::string& keyHeader : {
           std::string(),                                                   // missing
           std::string("Sec-WebSocket-Key: \r\n"),                          // empty
           std::string("Sec-WebSocket-Key: abc\r\n"),                       // too short
           std::string("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n"),  // 17 bytes
           std::string("Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n"),  // not base64
       }) {
    SCOPED_TRACE(keyHeader.empty() ? "no key" : keyHeader);
    HttpTestConnection http(server.port());
    http.send(upgradeRequest("/42", "13", keyHeader));
    auto response = http.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(400, response->status) << response->head;
    EXPECT_TRUE(http.waitForEof());
  }
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, handshake_on_a_path_that_is_not_a_room_gets_404) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const std::string& path :
       {std::string("/a/b"), std::string("/..%2f"), std::string("/%2e%2e"),
        "/" + std::string(65, 'r'), std::string("/room.1"), std::string("/room*"),
        std::string("/r%00m")}) {
    SCOPED_TRACE(path);
    WsTestClient client(server.port());
    EXPECT_EQ(404, client.handshake(path)) << client.responseHead();
  }
  // "/" is protocol v2's: without its subprotocol the upgrade is a 400 that says so.
  WsTestClient onRoot(server.port());
  EXPECT_EQ(400, onRoot.handshake("/")) << onRoot.responseHead();
  // The longest valid id still works.
  WsTestClient longest(server.port());
  EXPECT_EQ(101, longest.handshake("/" + std::string(64, 'r')));
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, plain_get_on_a_room_without_upgrade_gets_426) {
  ServerProcess server;
  const HttpResult result = httpGet(server.port(), "/42");
  EXPECT_EQ(426, result.status) << result.head;
}

TEST(BadInput, post_gets_405) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  for (const std::string& path : {std::string("/42"), std::string("/health")}) {
    SCOPED_TRACE(path);
    HttpTestConnection http(server.port());
    http.send("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello");
    auto response = http.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(405, response->status) << response->head;
    // The body is read and skipped, never taken for a second request: the next request on the
    // same connection is answered as itself.
    EXPECT_EQ("", http.unread());
    http.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    response = http.readResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(200, response->status) << response->head;
    EXPECT_EQ("", http.unread());
  }
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, request_header_larger_than_max_header_bytes_gets_431) {
  ServerProcess server({"limits.max_header_bytes=1024"});
  Bystanders bystanders(server.port());
  const std::string bigHeader = "X-Filler: " + std::string(2000, 'f') + "\r\n";
  {
    SCOPED_TRACE("complete request");
    const std::string answer = rawHttpExchange(
        server.port(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + bigHeader + "\r\n");
    EXPECT_EQ(431, statusOf(answer)) << answer;
  }
  {
    SCOPED_TRACE("header that never ends");
    const std::string answer =
        rawHttpExchange(server.port(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + bigHeader);
    EXPECT_EQ(431, statusOf(answer)) << answer;
  }
  expectStillServing(server.port(), bystanders);
}

// ---------------------------------------------------------------------------------------------
// Peers that vanish or stop reading.

TEST(BadInput, peer_disconnecting_mid_frame_leaves_its_room) {
  ServerProcess server;
  Bystanders bystanders(server.port());
  WsTestClient member(server.port());
  ASSERT_EQ(101, member.handshake("/midframe"));
  {
    WsTestClient quitter(server.port());
    ASSERT_EQ(101, quitter.handshake("/midframe"));
    ASSERT_EQ(2, waitForRoomMembers(server.port(), "midframe", 2));
    // Header announcing 100 bytes (2 bytes + 4 mask bytes), then 10 of them, then gone.
    const std::string frame =
        ws::encodeMaskedFrame(ws::Opcode::kText, std::string(100, 'q'), kMask);
    quitter.sendRaw(frame.substr(0, 6 + 10));
  }
  EXPECT_EQ(1, waitForRoomMembers(server.port(), "midframe", 1));
  EXPECT_EQ(1, fetchStats(server.port()).membersOf("midframe"));
  expectStillServing(server.port(), bystanders);
}

TEST(BadInput, slow_consumer_is_disconnected_while_the_sender_gets_everything_in_order) {
  constexpr int kMessages = 2000;
  constexpr size_t kMessageBytes = 4096;
  constexpr int kWindow = 8;  // messages in flight: 32 KiB, half the send queue
  // A sender as fast as the socket allows: no message rate limit here.
  ServerProcess server({"limits.send_queue_bytes=65536", "limits.messages_per_second=0"});
  Bystanders bystanders(server.port());
  const long baselineKiB = server.rssKiB();
  ASSERT_GT(baselineKiB, 0);

  WsTestClient sender(server.port());
  WsTestClient sleeper(server.port(), 4096);
  ASSERT_EQ(101, sender.handshake("/slow"));
  ASSERT_EQ(101, sleeper.handshake("/slow"));
  ASSERT_EQ(2, waitForRoomMembers(server.port(), "slow", 2));

  // One thread: send while fewer than kWindow messages are unechoed, otherwise read one echo.
  long peakKiB = baselineKiB;
  int sent = 0, received = 0;
  while (received < kMessages) {
    if (sent < kMessages && sent - received < kWindow) {
      char seq[16];
      std::snprintf(seq, sizeof seq, "%08d", sent);
      std::string payload(kMessageBytes, 'x');
      payload.replace(0, 8, seq);
      sender.sendBinary(payload);
      ++sent;
      if (sent % 100 == 0) peakKiB = std::max(peakKiB, server.rssKiB());
      continue;
    }
    auto echo = sender.receive();
    ASSERT_TRUE(echo) << "the sender stopped receiving after " << received << " of its messages";
    ASSERT_EQ(ws::Opcode::kBinary, echo->opcode)
        << "after " << received << " messages the sender got opcode "
        << static_cast<int>(echo->opcode) << ", close code " << echo->closeCode;
    ASSERT_EQ(kMessageBytes, echo->payload.size());
    char expected[16];
    std::snprintf(expected, sizeof expected, "%08d", received);
    ASSERT_EQ(expected, echo->payload.substr(0, 8)) << "out of order";
    ++received;
  }
  peakKiB = std::max(peakKiB, server.rssKiB());

  // The sleeper was dropped from the room while the sender carried on.
  EXPECT_EQ(1, waitForRoomMembers(server.port(), "slow", 1));
  // Reading now, it finds what the kernel held, then a 4008 close or just the end (the server
  // resets a peer that does not take its close frame).
  const int code = sleeper.receiveCloseCode(10s);
  std::cout << "slow consumer saw close code " << code << " (-1: reset or EOF)\n";
  EXPECT_TRUE(code == ws::close_code::kSlowConsumer || code == -1) << "close code " << code;
  EXPECT_TRUE(sleeper.waitForEof(5s));

  std::cout << "RSS baseline " << baselineKiB << " KiB, peak " << peakKiB << " KiB\n";
  EXPECT_LT(peakKiB, baselineKiB + 64 * 1024);
  expectStillServing(server.port(), bystanders);
}

// The same room, but the sender writes as fast as it can while a second thread reads its echoes
// as fast as they come. Its socket never backs up, so the slow-consumer limit must not hit it:
// only the client that does not read is slow.
TEST(BadInput, slow_consumer_limit_spares_a_sender_that_reads_as_fast_as_it_can) {
  constexpr int kMessages = 2000;
  constexpr size_t kMessageBytes = 4096;
  // A sender as fast as the socket allows: no message rate limit here.
  ServerProcess server({"limits.send_queue_bytes=65536", "limits.messages_per_second=0"});
  WsTestClient sender(server.port());
  WsTestClient sleeper(server.port(), 4096);
  ASSERT_EQ(101, sender.handshake("/slow"));
  ASSERT_EQ(101, sleeper.handshake("/slow"));
  ASSERT_EQ(2, waitForRoomMembers(server.port(), "slow", 2));

  // Only the reader thread touches `sender`; the main thread writes through a second handle to
  // the same socket (TCP is full duplex).
  int received = 0;
  std::string failure;
  std::thread reader([&] {
    while (received < kMessages) {
      auto echo = sender.receive();
      if (!echo) {
        failure = "nothing more (connection ended or 5 s timeout)";
        return;
      }
      if (echo->opcode != ws::Opcode::kBinary) {
        failure = "opcode " + std::to_string(static_cast<int>(echo->opcode)) + ", close code " +
                  std::to_string(echo->closeCode);
        return;
      }
      char expected[16];
      std::snprintf(expected, sizeof expected, "%08d", received);
      if (echo->payload.substr(0, 8) != expected) {
        failure = "out of order: got " + echo->payload.substr(0, 8) + ", expected " + expected;
        return;
      }
      ++received;
    }
  });
  Poco::Net::StreamSocket writer(sender.socket());
  std::string sendError;
  try {
    for (int i = 0; i < kMessages; ++i) {
      char seq[16];
      std::snprintf(seq, sizeof seq, "%08d", i);
      std::string payload(kMessageBytes, 'x');
      payload.replace(0, 8, seq);
      const std::string frame = ws::encodeMaskedFrame(ws::Opcode::kBinary, payload, kMask);
      for (size_t at = 0; at < frame.size();) {
        at += static_cast<size_t>(
            writer.sendBytes(frame.data() + at, static_cast<int>(frame.size() - at)));
      }
    }
  } catch (const Poco::Exception& e) {
    sendError = e.displayText();  // the server hung up on the sender
  }
  reader.join();
  ASSERT_EQ(kMessages, received) << "the sender itself was cut off after " << received
                                 << " of its messages: " << failure
                                 << (sendError.empty() ? "" : "; sending failed: " + sendError);
  EXPECT_EQ(1, waitForRoomMembers(server.port(), "slow", 1))
      << "members of /slow; only the sleeper should have been dropped";
}

TEST(BadInput, client_that_ignores_pings_is_closed_with_4000) {
  ServerProcess server({"limits.idle_timeout_s=1"});
  WsTestClient deaf(server.port());
  const auto start = Clock::now();
  ASSERT_EQ(101, deaf.handshake("/idle"));
  auto ping = deaf.receive(3s);
  ASSERT_TRUE(ping) << "no ping within 3 s";
  EXPECT_EQ(ws::Opcode::kPing, ping->opcode);
  EXPECT_EQ(ws::close_code::kIdleTimeout, deaf.receiveCloseCode(3s));
  const auto elapsed = Clock::now() - start;
  EXPECT_LT(elapsed, 3500ms) << "1 s idle + 1 s for the pong, on a 1 s tick";
  EXPECT_TRUE(deaf.waitForEof());
}

TEST(BadInput, client_that_answers_pings_stays_connected) {
  ServerProcess server({"limits.idle_timeout_s=1"});
  WsTestClient alive(server.port());
  ASSERT_EQ(101, alive.handshake("/idle"));
  const auto until = Clock::now() + 3500ms;
  int pings = 0;
  while (Clock::now() < until) {
    auto frame =
        alive.receive(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
    if (!frame) continue;
    ASSERT_EQ(ws::Opcode::kPing, frame->opcode)
        << "unexpected frame; close code " << frame->closeCode;
    alive.sendFrame(ws::Opcode::kPong, frame->payload);
    ++pings;
  }
  EXPECT_GE(pings, 1);
  alive.sendText("still here");
  for (;;) {
    auto frame = alive.receive();
    ASSERT_TRUE(frame) << "connection gone after answering pings";
    if (frame->opcode == ws::Opcode::kPing) continue;
    EXPECT_EQ(ws::Opcode::kText, frame->opcode);
    EXPECT_EQ("still here", frame->payload);
    break;
  }
}

}  // namespace heimdallr::test
