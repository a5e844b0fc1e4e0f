// Writes the seed corpus of every fuzz target, built with the real encoders (FrameEncoder,
// encodeEnvelope) so that the seeds are what a peer or the bus really sends:
//   build-fuzz/bin/fuzz_make_corpus tests/fuzz/corpus
// (scripts/fuzz seeds). Each seed is a file named after what it shows; the targets' input layouts
// are described at the top of each target.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include "heimdallr/bus/Envelope.h"
#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"

namespace {

namespace fs = std::filesystem;
using heimdallr::ws::Opcode;
namespace close_code = heimdallr::ws::close_code;

constexpr uint32_t kRfcMask = 0x37fa213d;  // RFC 6455 §5.7's example masking key

fs::path root;

void write(const std::string& target, const std::string& name, std::string_view bytes) {
  const fs::path dir = root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// frame_decoder's 6-byte header: role and limit class, limit parameter, chunking seed.
std::string frameParams(bool client, uint8_t limitClass, uint8_t limitParam, uint32_t seed) {
  std::string p;
  p.push_back(static_cast<char>((client ? 1 : 0) | (limitClass << 1)));
  p.push_back(static_cast<char>(limitParam));
  for (int i = 0; i < 4; ++i) p.push_back(static_cast<char>((seed >> (8 * i)) & 0xff));
  return p;
}

std::string masked(Opcode op, std::string_view payload, bool fin = true) {
  return heimdallr::ws::encodeMaskedFrame(op, payload, kRfcMask, fin);
}

std::string maskedClose(uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xff));
  payload.append(reason);
  return masked(Opcode::kClose, payload);
}

void frameDecoderSeeds() {
  const std::string server = frameParams(false, 0, 0, 0x00000000);        // one byte at a time
  const std::string serverSmall = frameParams(false, 0, 0, 0x12345671);   // chunks of 1-4
  const std::string serverRandom = frameParams(false, 0, 0, 0xdeadbeef);  // chunks of 1-len
  const std::string client = frameParams(true, 0, 0, 0x0badf00e);         // chunks of 1-64
  const std::string t = "frame_decoder";

  write(t, "text_hello", serverSmall + masked(Opcode::kText, "Hello"));
  write(t, "binary_256_len16", server + masked(Opcode::kBinary, std::string(256, '\xab')));
  write(t, "text_utf8",
        serverRandom + masked(Opcode::kText, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
  write(t, "fragmented_text_with_ping",
        serverSmall + masked(Opcode::kText, "Hel", false) + masked(Opcode::kPing, "p") +
            masked(Opcode::kContinuation, "lo", true));
  write(t, "fragmented_utf8_split_in_char",
        serverRandom + masked(Opcode::kText, "\xe2\x82", false) +
            masked(Opcode::kContinuation, "", false) + masked(Opcode::kContinuation, "\xac"));
  write(t, "fragmented_binary_three",
        server + masked(Opcode::kBinary, "ab", false) + masked(Opcode::kContinuation, "cd", false) +
            masked(Opcode::kContinuation, "ef"));
  write(t, "ping_pong_then_text",
        serverSmall + masked(Opcode::kPing, std::string(125, 'x')) + masked(Opcode::kPong, "") +
            masked(Opcode::kText, ""));
  write(t, "close_normal_then_garbage",
        serverRandom + maskedClose(close_code::kNormal, "bye") + "\xff\xff\xff");
  write(t, "close_empty", server + masked(Opcode::kClose, ""));
  write(t, "close_4000_utf8_reason", serverSmall + maskedClose(4000, "\xc3\xa9t\xc3\xa9"));
  write(t, "many_messages",
        serverRandom + masked(Opcode::kText, "one") + masked(Opcode::kBinary, "two") +
            masked(Opcode::kText, std::string(300, 'z')) + masked(Opcode::kPing, "") +
            masked(Opcode::kText, "three"));
  // A 64-bit length for a short payload: not minimal, still valid.
  {
    std::string frame = "\x82\xff";
    frame += std::string("\x00\x00\x00\x00\x00\x00\x00\x08", 8);
    frame += "\x00\x00\x00\x00";  // a zero mask
    frame += "12345678";
    write(t, "binary_len64_nonminimal", server + frame);
  }
  // Violations, one each.
  write(t, "err_invalid_utf8", serverSmall + masked(Opcode::kText, "ok\xc0\xafno"));
  write(t, "err_truncated_utf8", server + masked(Opcode::kText, "\xe2\x82"));
  write(t, "err_too_big_limit4", frameParams(false, 1, 3, 1) + masked(Opcode::kText, "0123456789"));
  write(t, "err_too_big_fragments_limit4",
        frameParams(false, 1, 3, 2) + masked(Opcode::kBinary, "abc", false) +
            masked(Opcode::kContinuation, "de"));
  write(t, "err_unmasked_from_client", server + heimdallr::ws::encodeFrame(Opcode::kText, "hi"));
  write(t, "err_close_code_1005", serverSmall + maskedClose(1005, ""));
  write(t, "err_close_one_byte", server + masked(Opcode::kClose, "\x03"));
  write(t, "err_close_reason_not_utf8", serverSmall + maskedClose(1000, "\xff"));
  write(t, "err_reserved_opcode", server + std::string("\x83\x80\x00\x00\x00\x00", 6));
  write(t, "err_rsv_bits", server + std::string("\xc1\x80\x00\x00\x00\x00", 6));
  write(t, "err_fragmented_ping", server + masked(Opcode::kPing, "x", false));
  write(t, "err_continuation_first", server + masked(Opcode::kContinuation, "x"));
  write(t, "err_text_inside_fragmented",
        server + masked(Opcode::kText, "a", false) + masked(Opcode::kText, "b"));
  write(t, "err_len64_msb", server + std::string("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01", 10));
  // The client role reads the server's unmasked frames (tests, load generator).
  write(t, "client_text_and_close",
        client + heimdallr::ws::encodeFrame(Opcode::kText, "hello") +
            heimdallr::ws::encodeFrame(Opcode::kBinary, std::string(200, '\x01')) +
            heimdallr::ws::encodeClose(close_code::kGoingAway, "restart"));
  write(t, "client_err_masked", client + masked(Opcode::kText, "x"));
}

void requestHeadSeeds() {
  const std::string t = "request_head";
  // RFC 6455 §1.2's handshake.
  write(t, "upgrade_rfc",
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n");
  // What a browser sends.
  write(t, "upgrade_browser",
        "GET /lobby?name=ann&x=%20y HTTP/1.1\r\nHost: localhost:8000\r\n"
        "Connection: keep-alive, Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nUpgrade: websocket\r\n"
        "Origin: http://localhost:8000\r\nSec-WebSocket-Version: 13\r\n"
        "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
        "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n");
  write(t, "upgrade_wrong_version",
        "GET /room-1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
  write(t, "upgrade_bad_key",
        "GET /r HTTP/1.1\r\nHost: h\r\nupgrade: WebSocket\r\nconnection: Upgrade\r\n"
        "sec-websocket-key: not base64!\r\nsec-websocket-version: 13\r\n\r\n");
  write(t, "upgrade_http10",
        "GET /r HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  write(t, "upgrade_post",
        "POST /r HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Content-Length: 0\r\n\r\n");
  write(t, "health", "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
  write(t, "stats_cluster", "GET /stats?scope=cluster HTTP/1.1\r\nHost: localhost\r\n\r\n");
  write(t, "metrics_head",
        "HEAD /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  write(t, "static_file", "GET /app.js?v=3#frag HTTP/1.1\r\nHost: localhost\r\n\r\n");
  write(t, "absolute_uri", "GET http://example.com:8000/lobby?a=b HTTP/1.1\r\nHost: x\r\n\r\n");
  write(t, "post_body", "POST /lobby HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
  write(t, "chunked", "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  write(t, "bad_content_length", "GET / HTTP/1.1\r\nContent-Length: -1x\r\n\r\n");
  write(t, "bad_percent", "GET /%zz%?%%=%x HTTP/1.1\r\nHost: h\r\n\r\n");
  write(t, "folded_header", "GET / HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n");
  write(t, "bare_lf", "GET / HTTP/1.1\nHost: h\n\n");
  write(t, "no_version", "GET /\r\n\r\n");
}

void configSeeds(const fs::path& source) {
  const std::string t = "config_loader";
  std::ifstream in(source / "conf" / "heimdallr.yaml", std::ios::binary);
  std::stringstream full;
  full << in.rdbuf();
  // conf/heimdallr.yaml with its comment lines dropped: every key and default, in 1-2 kB.
  std::string keys, line;
  while (std::getline(full, line)) {
    const size_t text = line.find_first_not_of(' ');
    if (text == std::string::npos || line[text] == '#') continue;
    keys += line + "\n";
  }
  write(t, "heimdallr_yaml", keys);
  write(t, "empty", "");
  write(t, "comment_only", "# nothing\n");
  write(t, "inmem_single_node",
        "server:\n  port: 0\n  node_id: node-1\nbus:\n  plugin: inmem\n  inmem:\n"
        "    max_pending: 10\nlog:\n  level: debug\n");
  write(t, "flow_style",
        "{server: {host: 127.0.0.1, port: 9000}, limits: {max_message_bytes: 1024}, "
        "metrics: {enabled: false}}\n");
  write(t, "redis_options",
        "bus:\n  plugin: redis\n  redis:\n    host: redis.local\n    port: 6380\n"
        "    password:\n    channel_prefix: 'a:b'\n");
  write(t, "anchors_aliases",
        "server: &s\n  port: &p 8001\nstats:\n  interval_s: *p\nweb: {root: *s}\n");
  write(t, "overrides",
        std::string("server:\n  port: 1\n") + '\0' + "server.port=2" + '\0' + "bus.plugin=inmem" +
            '\0' + "bus.inmem.max_pending=5" + '\0' + "limits={max_message_bytes: 77}");
  write(t, "override_bad", std::string("") + '\0' + "server.port" + '\0' + "=1");
  write(t, "err_duplicate_key", "server:\n  port: 1\n  port: 2\n");
  write(t, "err_quoted_integer", "server:\n  port: \"8000\"\n");
  write(t, "err_unknown_key_typo", "server:\n  prot: 8000\n");
  write(t, "err_out_of_range", "limits:\n  max_message_bytes: 67108865\n");
  write(t, "err_two_documents", "server: {}\n---\nlimits: {}\n");
  write(t, "err_syntax", "server:\n  port: [1, 2\n");
  write(t, "err_list_top", "- a\n- b\n");
  write(t, "err_nested_plugin_option", "bus:\n  redis:\n    host: {a: b}\n");
  write(t, "tags_and_hex", "server:\n  port: !!int 8000\n  io_threads: 0x10\n");
  // Found by this target: yaml-cpp 0.7's LoadAll looped forever on a stray ','.
  write(t, "regression_stray_comma_hang", ",imits:\n  ma8_message_bytes: 67108865\n");
  write(t, "regression_stray_comma_after_document", "server: {port: 1}\n...\n,");
}

void envelopeSeeds() {
  const std::string t = "bus_envelope";
  heimdallr::bus::BusMessage msg;
  msg.subject = "room.42";
  msg.origin = "node-a";
  msg.payload = "hello";
  msg.originTimeNs = 1700000000123456789;
  write(t, "text_from_node_a", heimdallr::bus::encodeEnvelope(msg));
  msg.flags = heimdallr::bus::BusMessage::kFlagBinary;
  msg.payload = std::string("\x00\x01\x02\xff", 4);
  write(t, "binary_flag", heimdallr::bus::encodeEnvelope(msg));
  msg.flags = 0;
  msg.origin.clear();
  msg.payload.clear();
  msg.originTimeNs = 0;
  write(t, "empty_origin_empty_payload", heimdallr::bus::encodeEnvelope(msg));
  msg.origin = std::string(255, 'o');
  msg.payload = "{\"node\":\"n\",\"connections\":3,\"rooms\":{\"lobby\":2}}";
  msg.originTimeNs = -1;
  msg.flags = 0xffffffff;
  write(t, "origin_255_stats_payload", heimdallr::bus::encodeEnvelope(msg));
  msg.origin = "x";
  msg.payload = std::string(1000, 'p');
  write(t, "payload_1000", heimdallr::bus::encodeEnvelope(msg));
  const std::string good = heimdallr::bus::encodeEnvelope(msg);
  msg.kind = heimdallr::bus::MessageKind::kJoin;
  msg.offset = 17;
  msg.epoch = "e1a2b3";
  msg.senderClient = "node-a.5";
  msg.senderUser = "alice";
  msg.flags = heimdallr::bus::BusMessage::kFlagJson;
  msg.payload = "{\"text\":\"hi\"}";
  write(t, "stored_v2_message", heimdallr::bus::encodeEnvelope(msg));
  write(t, "presence_member",
        heimdallr::bus::encodePresenceMember({"node-a-7", "alice", "{\"role\":\"op\"}", "node-a"}));
  write(t, "err_truncated_header", good.substr(0, 21));
  write(t, "err_origin_past_end", good.substr(0, 22));
  std::string badVersion = good;
  badVersion[0] = 1;
  write(t, "err_version_1", badVersion);
}

void subjectSeeds() {
  const std::string t = "subject_matcher";
  write(t, "rooms", "room.42\nroom.*\nroom.>\nroom.42\nroom.43\n>");
  write(t, "stats", "stats.node-1\nstats.*\nstats.>\n*.node-1\nstats.node-1.extra");
  write(t, "unsubscribe", "room.1\nroom.*\n\x02\nroom.1\n\x01\n\x03\nroom.>\n\x05");
  write(t, "invalid", "room..1\n.room\nroom.\nroom.a*\nroom.>.x\nroom 1\n\x7f\nroom.\xc3\xa9");
  write(t, "wildcards_only", "*\n>\n*.*\n*.>\na\na.b\na.b.c");
  write(t, "prefix_redis", "heimdallr.room.lobby\nheimdallr.room.*\nheimdallr.>");
  // Found by this target: bytes >= 0x80 were valid only where char is unsigned.
  write(t, "regression_non_ascii_subject", "room.\xc3\xa9\nroom.*\nroom.\x80x\n\xff");
}

void claimsSeeds() {
  const std::string t = "claims_reader";
  write(t, "typical",
        R"({"sub":"alice","rooms":["team-*","42"],"pub":[],"iat":1800000000,"exp":1800003600})");
  write(t, "all_claims",
        R"({"sub":"bob","iss":"https://issuer","aud":["a","b"],"nbf":1.5e9,"iat":1800000000,)"
        R"("exp":1800003600.25,"rooms":["*"],"pub":["news"],"info":{"name":"Bob","n":[1,2]}})");
  write(t, "wrong_shapes",
        R"({"sub":7,"iss":null,"aud":{"x":1},"exp":"soon","nbf":true,"iat":[],"rooms":"r",)"
        R"("pub":[1],"info":[{}]})");
  write(t, "duplicates", R"({"sub":1,"sub":"later","rooms":["a"],"rooms":[["nested"]]})");
  write(t, "nested_decoys",
        R"({"x":{"sub":"no","rooms":["no"]},"y":[{"exp":1}],"info":{"sub":{"a":[]}},"sub":"u"})");
  write(t, "numbers", R"({"exp":18446744073709551615,"nbf":-9223372036854775808,"iat":1.5})");
  write(t, "number_overflow", R"({"sub":"a","iat":1e400})");
  write(t, "not_an_object", R"(["sub","alice"])");
  write(t, "escapes", R"({"sub":"\\u0000\u00e9\ud83d\ude00","info":{"b":"\\","a":"\n"}})");
}

void v2CommandSeeds() {
  const std::string t = "v2_command";
  write(t, "connect", R"({"id":1,"connect":{"token":"a.b.c","name":"alice"}})");
  write(t, "join_since", R"({"id":2,"join":{"room":"42","since":{"offset":17,"epoch":"e1"}}})");
  write(t, "leave", R"({"id":3,"leave":{"room":"42"}})");
  write(t, "publish_object",
        R"({"id":4,"publish":{"room":"42","data":{"text":"hi","n":[1,2.5]}}})");
  write(t, "publish_string", R"({"id":4,"publish":{"room":"42","data":"caf\u00e9 \"q\""}})");
  write(t, "presence", R"({"id":5,"presence":{"room":"42"}})");
  write(t, "history",
        R"({"id":6,"history":{"room":"42","since":{"offset":0,"epoch":"x"},"limit":100}})");
  write(t, "refresh", R"({"id":7,"refresh":{"token":"t"}})");
  write(t, "errors", R"({"id":18446744073709551615,"join":{"room":"a b","since":{"offset":-1}}})");
  write(t, "two_commands", R"({"id":1,"join":{"room":"a"},"leave":{"room":"a"},"id":2})");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " <corpus dir> <source dir>\n";
    return 2;
  }
  root = argv[1];
  frameDecoderSeeds();
  requestHeadSeeds();
  configSeeds(argv[2]);
  envelopeSeeds();
  subjectSeeds();
  claimsSeeds();
  v2CommandSeeds();
  return 0;
}
