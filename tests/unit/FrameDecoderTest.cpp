#include <gtest/gtest.h>

#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "ws/CloseCode.h"
#include "ws/FrameDecoder.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::ws {
namespace {

constexpr size_t kLimit = 1 << 20;
constexpr uint32_t kRfcMask = 0x37fa213d;

struct Event {
  enum Kind { kMessage, kPing, kPong, kClose } kind;
  Opcode op = Opcode::kContinuation;
  std::string payload;
  uint16_t code = 0;

  bool operator==(const Event&) const = default;
};

void PrintTo(const Event& e, std::ostream* os) {
  static const char* const kNames[] = {"message", "ping", "pong", "close"};
  *os << kNames[e.kind] << "(op=" << int(e.op) << ", code=" << e.code << ", " << e.payload.size()
      << " bytes: \"" << e.payload.substr(0, 40) << "\")";
}

Event message(Opcode op, std::string payload) { return {Event::kMessage, op, std::move(payload)}; }
Event ping(std::string payload) { return {Event::kPing, {}, std::move(payload)}; }
Event pong(std::string payload) { return {Event::kPong, {}, std::move(payload)}; }
Event close(uint16_t code, std::string reason) {
  return {Event::kClose, {}, std::move(reason), code};
}

class Recorder : public FrameDecoder::Handler {
 public:
  void onMessage(Opcode op, std::string&& payload) override {
    events.push_back(message(op, std::move(payload)));
  }
  void onPing(std::string_view payload) override { events.push_back(ping(std::string(payload))); }
  void onPong(std::string_view payload) override { events.push_back(pong(std::string(payload))); }
  void onClose(uint16_t code, std::string_view reason) override {
    events.push_back(close(code, std::string(reason)));
  }

  std::vector<Event> events;
};

struct Outcome {
  std::vector<Event> events;
  uint16_t closeCode = 0;  // of the first error, 0 if none
  std::string reason;
};

// Feeds `stream` in pieces ending at each of `cuts` (ascending), stopping at the first error.
Outcome decodeWithCuts(Role role, const std::string& stream, const std::vector<size_t>& cuts,
                       size_t limit = kLimit) {
  FrameDecoder decoder(role, limit);
  Recorder recorder;
  Outcome outcome;
  size_t from = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    const FrameDecoder::Error error = decoder.feed(stream.data() + from, end - from, recorder);
    from = end;
    if (error) {
      outcome.closeCode = error.closeCode;
      outcome.reason = error.reason;
      break;
    }
  }
  outcome.events = std::move(recorder.events);
  return outcome;
}

Outcome decode(Role role, const std::string& stream, size_t limit = kLimit) {
  return decodeWithCuts(role, stream, {}, limit);
}

Outcome decodeByteAtATime(Role role, const std::string& stream, size_t limit = kLimit) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  return decodeWithCuts(role, stream, cuts, limit);
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

std::string patterned(size_t len) {
  std::string out(len, '\0');
  for (size_t i = 0; i < len; ++i) out[i] = static_cast<char>(i * 31 + 7);
  return out;
}

// A client frame as a browser would send it: masked, with a key that changes per frame.
std::string clientFrame(Opcode op, std::string_view payload, bool fin = true) {
  static uint32_t key = 0x9e3779b9;
  key = key * 2654435761u + 1;
  return encodeMaskedFrame(op, payload, key, fin);
}

uint16_t serverErrorCode(const std::string& stream, size_t limit = kLimit) {
  const Outcome whole = decode(Role::kServer, stream, limit);
  // Splitting must never change the verdict.
  const Outcome bytewise = decodeByteAtATime(Role::kServer, stream, limit);
  EXPECT_EQ(whole.closeCode, bytewise.closeCode);
  EXPECT_EQ(whole.events, bytewise.events);
  return whole.closeCode;
}

// ---- RFC 6455 §5.7 examples ----

TEST(FrameDecoder, decodes_rfc_single_frame_unmasked_text_in_client_role) {
  const Outcome out = decode(Role::kClient, bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{message(Opcode::kText, "Hello")});
}

TEST(FrameDecoder, decodes_rfc_single_frame_masked_text_in_server_role) {
  const Outcome out = decode(
      Role::kServer, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{message(Opcode::kText, "Hello")});
}

TEST(FrameDecoder, decodes_rfc_fragmented_unmasked_text) {
  const Outcome out =
      decode(Role::kClient, bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}));
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{message(Opcode::kText, "Hello")});
}

TEST(FrameDecoder, decodes_rfc_fragmented_masked_text) {
  const std::string stream = encodeMaskedFrame(Opcode::kText, "Hel", kRfcMask, false) +
                             encodeMaskedFrame(Opcode::kContinuation, "lo", 0x01020304);
  const Outcome out = decode(Role::kServer, stream);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{message(Opcode::kText, "Hello")});
}

TEST(FrameDecoder, decodes_rfc_unmasked_ping_and_masked_pong) {
  const Outcome pingOut = decode(Role::kClient, bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  EXPECT_EQ(pingOut.events, std::vector<Event>{ping("Hello")});
  const Outcome pongOut = decode(
      Role::kServer, bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_EQ(pongOut.events, std::vector<Event>{pong("Hello")});
}

TEST(FrameDecoder, decodes_rfc_256_byte_binary_with_16_bit_length) {
  const std::string payload = patterned(256);
  const Outcome out = decode(Role::kClient, bytes({0x82, 0x7E, 0x01, 0x00}) + payload);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{message(Opcode::kBinary, payload)});

  const Outcome masked = decode(Role::kServer, clientFrame(Opcode::kBinary, payload));
  EXPECT_EQ(masked.events, std::vector<Event>{message(Opcode::kBinary, payload)});
}

TEST(FrameDecoder, decodes_rfc_64_kib_binary_with_64_bit_length) {
  const std::string payload = patterned(65536);
  const Outcome out =
      decode(Role::kClient, bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}) + payload);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{message(Opcode::kBinary, payload)});

  const Outcome masked = decode(Role::kServer, clientFrame(Opcode::kBinary, payload));
  EXPECT_EQ(masked.events, std::vector<Event>{message(Opcode::kBinary, payload)});
}

// ---- Masking and header rules ----

TEST(FrameDecoder, rejects_unmasked_client_frame) {
  EXPECT_EQ(serverErrorCode(encodeFrame(Opcode::kText, "Hello")), close_code::kProtocolError);
  EXPECT_EQ(serverErrorCode(encodeFrame(Opcode::kPing, "")), close_code::kProtocolError);
}

TEST(FrameDecoder, rejects_masked_server_frame_in_client_role) {
  const Outcome out = decode(Role::kClient, encodeMaskedFrame(Opcode::kText, "Hello", kRfcMask));
  EXPECT_EQ(out.closeCode, close_code::kProtocolError);
  EXPECT_TRUE(out.events.empty());
}

TEST(FrameDecoder, rejects_each_reserved_bit_without_negotiated_extension) {
  for (int bit : {0x40, 0x20, 0x10}) {
    std::string frame = clientFrame(Opcode::kText, "Hello");
    frame[0] = static_cast<char>(frame[0] | bit);
    EXPECT_EQ(serverErrorCode(frame), close_code::kProtocolError) << bit;
  }
}

TEST(FrameDecoder, rejects_reserved_opcodes) {
  for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    std::string frame = clientFrame(Opcode::kText, "x");
    frame[0] = static_cast<char>(0x80 | op);
    EXPECT_EQ(serverErrorCode(frame), close_code::kProtocolError) << op;
  }
}

TEST(FrameDecoder, fails_on_the_first_two_header_bytes_without_waiting_for_the_rest) {
  FrameDecoder decoder(Role::kServer, kLimit);
  Recorder recorder;
  const std::string header = bytes({0x83, 0xFE});  // reserved opcode, 16-bit length follows
  EXPECT_EQ(decoder.feed(header.data(), 2, recorder).closeCode, close_code::kProtocolError);
}

TEST(FrameDecoder, rejects_fragmented_control_frames) {
  for (Opcode op : {Opcode::kPing, Opcode::kPong, Opcode::kClose}) {
    EXPECT_EQ(serverErrorCode(clientFrame(op, "", false)), close_code::kProtocolError) << int(op);
  }
}

TEST(FrameDecoder, rejects_control_frames_longer_than_125_bytes) {
  for (Opcode op : {Opcode::kPing, Opcode::kPong, Opcode::kClose}) {
    EXPECT_EQ(serverErrorCode(clientFrame(op, std::string(126, 'a'))), close_code::kProtocolError);
    EXPECT_EQ(serverErrorCode(clientFrame(op, std::string(70000, 'a'))),
              close_code::kProtocolError);
  }
}

TEST(FrameDecoder, accepts_control_frame_of_exactly_125_bytes) {
  const std::string payload(125, 'p');
  const Outcome out = decode(Role::kServer, clientFrame(Opcode::kPing, payload));
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{ping(payload)});
}

TEST(FrameDecoder, rejects_continuation_without_started_message) {
  EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kContinuation, "lo")), close_code::kProtocolError);
  // Also after a complete message: the message is closed again.
  EXPECT_EQ(
      serverErrorCode(clientFrame(Opcode::kText, "Hel") + clientFrame(Opcode::kContinuation, "lo")),
      close_code::kProtocolError);
}

TEST(FrameDecoder, rejects_new_data_frame_while_fragmented_message_is_open) {
  EXPECT_EQ(
      serverErrorCode(clientFrame(Opcode::kText, "a", false) + clientFrame(Opcode::kText, "b")),
      close_code::kProtocolError);
  EXPECT_EQ(
      serverErrorCode(clientFrame(Opcode::kBinary, "a", false) + clientFrame(Opcode::kText, "b")),
      close_code::kProtocolError);
}

TEST(FrameDecoder, rejects_64_bit_length_with_most_significant_bit_set) {
  const std::string frame = bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 1, 2, 3, 4});
  EXPECT_EQ(serverErrorCode(frame), close_code::kProtocolError);
}

// ---- Message size limit ----

TEST(FrameDecoder, rejects_oversized_message_from_its_header_before_buffering_payload) {
  FrameDecoder decoder(Role::kServer, 1000);
  Recorder recorder;
  const std::string frame = clientFrame(Opcode::kBinary, patterned(1001));
  const size_t headerLen = frameHeaderSize(1001, true);
  const FrameDecoder::Error error = decoder.feed(frame.data(), headerLen, recorder);
  EXPECT_EQ(error.closeCode, close_code::kMessageTooBig);
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
}

TEST(FrameDecoder, rejects_huge_declared_length_without_allocating_it) {
  // 2^62 bytes announced: must fail from the header, not attempt to reserve.
  const std::string frame = bytes({0x82, 0xFF, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4});
  EXPECT_EQ(serverErrorCode(frame), close_code::kMessageTooBig);
}

TEST(FrameDecoder, rejects_fragmented_message_whose_total_exceeds_the_limit) {
  FrameDecoder decoder(Role::kServer, 100);
  Recorder recorder;
  const std::string first = clientFrame(Opcode::kText, std::string(60, 'a'), false);
  const std::string second = clientFrame(Opcode::kContinuation, std::string(41, 'b'));
  EXPECT_FALSE(decoder.feed(first.data(), first.size(), recorder));
  EXPECT_EQ(decoder.bufferedBytes(), 60u);
  const FrameDecoder::Error error =
      decoder.feed(second.data(), frameHeaderSize(41, true), recorder);  // header only
  EXPECT_EQ(error.closeCode, close_code::kMessageTooBig);
  EXPECT_TRUE(recorder.events.empty());
}

TEST(FrameDecoder, accepts_message_of_exactly_the_limit) {
  const std::string whole = clientFrame(Opcode::kBinary, std::string(100, 'x'));
  EXPECT_EQ(decode(Role::kServer, whole, 100).closeCode, 0);
  const std::string fragmented = clientFrame(Opcode::kText, std::string(50, 'a'), false) +
                                 clientFrame(Opcode::kContinuation, std::string(50, 'b'));
  const Outcome out = decode(Role::kServer, fragmented, 100);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{
                            message(Opcode::kText, std::string(50, 'a') + std::string(50, 'b'))});
}

TEST(FrameDecoder, limit_applies_per_message_not_per_connection) {
  std::string stream;
  for (int i = 0; i < 10; ++i) stream += clientFrame(Opcode::kBinary, std::string(100, 'x'));
  const Outcome out = decode(Role::kServer, stream, 100);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events.size(), 10u);
}

TEST(FrameDecoder, control_frames_do_not_count_toward_the_message_limit) {
  const std::string stream = clientFrame(Opcode::kText, "abcd", false) +
                             clientFrame(Opcode::kPing, std::string(100, 'p')) +
                             clientFrame(Opcode::kContinuation, "ef");
  const Outcome out = decode(Role::kServer, stream, 6);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events,
            (std::vector<Event>{ping(std::string(100, 'p')), message(Opcode::kText, "abcdef")}));
}

// ---- UTF-8 in text messages ----

TEST(FrameDecoder, rejects_invalid_utf8_as_soon_as_the_bad_byte_arrives) {
  FrameDecoder decoder(Role::kServer, kLimit);
  Recorder recorder;
  std::string payload = std::string(10, 'a') + "\xFF" + std::string(100, 'b');
  const std::string frame = clientFrame(Opcode::kText, payload);
  const size_t upToBadByte = frameHeaderSize(payload.size(), true) + 11;
  EXPECT_FALSE(decoder.feed(frame.data(), upToBadByte - 1, recorder));
  EXPECT_EQ(decoder.feed(frame.data() + upToBadByte - 1, 1, recorder).closeCode,
            close_code::kInvalidPayload);
}

TEST(FrameDecoder, rejects_invalid_utf8_in_a_later_fragment_before_the_message_ends) {
  FrameDecoder decoder(Role::kServer, kLimit);
  Recorder recorder;
  const std::string stream = clientFrame(Opcode::kText, "fine", false) +
                             clientFrame(Opcode::kContinuation, "\xED\xA0\x80", false);
  EXPECT_EQ(decoder.feed(stream.data(), stream.size(), recorder).closeCode,
            close_code::kInvalidPayload);
}

TEST(FrameDecoder, rejects_text_ending_in_a_truncated_sequence) {
  EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kText, "euro \xE2\x82")),
            close_code::kInvalidPayload);
  EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kText, "ok", false) +
                            clientFrame(Opcode::kContinuation, "\xF0\x9F\x98")),
            close_code::kInvalidPayload);
}

TEST(FrameDecoder, rejects_overlong_surrogate_and_out_of_range_text) {
  for (const char* bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xED\xA0\x80",
                          "\xED\xBF\xBF", "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\x80"}) {
    EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kText, bad)), close_code::kInvalidPayload) << bad;
  }
}

TEST(FrameDecoder, accepts_multibyte_characters_split_across_fragments) {
  const std::string text = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 \xF0\x9F\x98\x80";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    const std::string stream = clientFrame(Opcode::kText, text.substr(0, cut), false) +
                               clientFrame(Opcode::kContinuation, text.substr(cut));
    const Outcome out = decode(Role::kServer, stream);
    ASSERT_EQ(out.closeCode, 0) << cut;
    ASSERT_EQ(out.events, std::vector<Event>{message(Opcode::kText, text)}) << cut;
  }
}

TEST(FrameDecoder, does_not_validate_binary_messages_as_utf8) {
  const std::string payload = "\xFF\xFE\xED\xA0\x80\xC0";
  const Outcome out = decode(Role::kServer, clientFrame(Opcode::kBinary, payload));
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{message(Opcode::kBinary, payload)});
}

TEST(FrameDecoder, does_not_validate_ping_payloads_as_utf8) {
  const Outcome out = decode(Role::kServer, clientFrame(Opcode::kPing, "\xFF\xFE"));
  EXPECT_EQ(out.events, std::vector<Event>{ping("\xFF\xFE")});
}

// ---- Close frames ----

TEST(FrameDecoder, reports_empty_close_as_no_status) {
  const Outcome out = decode(Role::kServer, clientFrame(Opcode::kClose, ""));
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{close(close_code::kNoStatus, "")});
}

TEST(FrameDecoder, reports_close_code_and_reason) {
  const Outcome out =
      decode(Role::kServer, clientFrame(Opcode::kClose, bytes({0x03, 0xE9}) + "g\xC3\xB6ne"));
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, std::vector<Event>{close(close_code::kGoingAway, "g\xC3\xB6ne")});
}

TEST(FrameDecoder, decodes_close_frames_from_the_encoder_in_client_role) {
  const Outcome out = decode(Role::kClient, encodeClose(close_code::kSlowConsumer, "slow"));
  EXPECT_EQ(out.events, std::vector<Event>{close(close_code::kSlowConsumer, "slow")});
}

TEST(FrameDecoder, rejects_close_payload_of_one_byte) {
  EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kClose, "\x03")), close_code::kProtocolError);
}

TEST(FrameDecoder, rejects_close_codes_a_peer_may_not_send) {
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    const std::string payload = bytes({code >> 8, code & 0xFF});
    EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kClose, payload)), close_code::kProtocolError)
        << code;
  }
}

TEST(FrameDecoder, accepts_close_codes_a_peer_may_send) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                   3999, 4000, 4008, 4999}) {
    const std::string payload = bytes({code >> 8, code & 0xFF});
    const Outcome out = decode(Role::kServer, clientFrame(Opcode::kClose, payload));
    EXPECT_EQ(out.closeCode, 0) << code;
    EXPECT_EQ(out.events, std::vector<Event>{close(static_cast<uint16_t>(code), "")}) << code;
  }
}

TEST(FrameDecoder, rejects_close_reason_that_is_not_utf8) {
  EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kClose, bytes({0x03, 0xE8}) + "\xCE\xBA\xFF")),
            close_code::kInvalidPayload);
  EXPECT_EQ(serverErrorCode(clientFrame(Opcode::kClose, bytes({0x03, 0xE8}) + "\xE2\x82")),
            close_code::kInvalidPayload);
}

TEST(FrameDecoder, ignores_input_after_a_close_frame) {
  FrameDecoder decoder(Role::kServer, kLimit);
  Recorder recorder;
  const std::string stream = clientFrame(Opcode::kText, "partial", false) +
                             clientFrame(Opcode::kClose, "") + clientFrame(Opcode::kText, "late");
  EXPECT_FALSE(decoder.feed(stream.data(), stream.size(), recorder));
  EXPECT_FALSE(decoder.feed("\xFF\xFF", 2, recorder));  // garbage is not even parsed
  EXPECT_EQ(recorder.events, std::vector<Event>{close(close_code::kNoStatus, "")});
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
}

// ---- Failure state ----

TEST(FrameDecoder, stays_failed_and_repeats_the_first_error) {
  FrameDecoder decoder(Role::kServer, kLimit);
  Recorder recorder;
  const std::string bad = encodeFrame(Opcode::kText, "unmasked");
  const FrameDecoder::Error first = decoder.feed(bad.data(), bad.size(), recorder);
  ASSERT_EQ(first.closeCode, close_code::kProtocolError);
  EXPECT_FALSE(first.reason.empty());
  const std::string good = clientFrame(Opcode::kText, "fine");
  const FrameDecoder::Error again = decoder.feed(good.data(), good.size(), recorder);
  EXPECT_EQ(again.closeCode, first.closeCode);
  EXPECT_EQ(again.reason, first.reason);
  EXPECT_TRUE(recorder.events.empty());
}

TEST(FrameDecoder, delivers_events_preceding_an_error_in_the_same_chunk) {
  const std::string stream = clientFrame(Opcode::kText, "one") + clientFrame(Opcode::kPing, "p") +
                             clientFrame(Opcode::kText, "\xC0\x80");
  const Outcome out = decode(Role::kServer, stream);
  EXPECT_EQ(out.closeCode, close_code::kInvalidPayload);
  EXPECT_EQ(out.events, (std::vector<Event>{message(Opcode::kText, "one"), ping("p")}));
}

TEST(FrameDecoder, error_reasons_fit_in_a_close_frame) {
  // Every error path's reason is sent back in a close frame, so it must stay short.
  for (const std::string& stream :
       {encodeFrame(Opcode::kText, "x"), clientFrame(Opcode::kText, "\xFF"),
        clientFrame(Opcode::kClose, "\x03"), clientFrame(Opcode::kBinary, std::string(200, 'x'))}) {
    const Outcome out = decode(Role::kServer, stream, 100);
    EXPECT_NE(out.closeCode, 0);
    EXPECT_LE(out.reason.size(), kMaxControlPayload - 2);
  }
}

// ---- Interleaving, reassembly and buffering ----

TEST(FrameDecoder, delivers_control_frames_between_fragments_without_disturbing_reassembly) {
  const std::string stream =
      clientFrame(Opcode::kText, "Hel", false) + clientFrame(Opcode::kPing, "ping-1") +
      clientFrame(Opcode::kContinuation, "lo \xE2\x82", false) +  // euro sign split here...
      clientFrame(Opcode::kPong, "pong-1") +                      // ...around a control frame
      clientFrame(Opcode::kContinuation, "\xAC", false) + clientFrame(Opcode::kPing, "") +
      clientFrame(Opcode::kContinuation, "!") + clientFrame(Opcode::kBinary, "after");
  const Outcome out = decode(Role::kServer, stream);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, (std::vector<Event>{ping("ping-1"), pong("pong-1"), ping(""),
                                            message(Opcode::kText, "Hello \xE2\x82\xAC!"),
                                            message(Opcode::kBinary, "after")}));
}

TEST(FrameDecoder, delivers_close_received_between_fragments) {
  const std::string stream =
      clientFrame(Opcode::kBinary, "abc", false) + clientFrame(Opcode::kClose, bytes({0x03, 0xE8}));
  const Outcome out = decode(Role::kServer, stream);
  EXPECT_EQ(out.events, std::vector<Event>{close(close_code::kNormal, "")});
}

TEST(FrameDecoder, decodes_empty_messages_and_empty_fragments) {
  const std::string stream =
      clientFrame(Opcode::kText, "") + clientFrame(Opcode::kBinary, "") +
      clientFrame(Opcode::kText, "", false) + clientFrame(Opcode::kContinuation, "", false) +
      clientFrame(Opcode::kContinuation, "x", false) + clientFrame(Opcode::kContinuation, "");
  const Outcome out = decodeByteAtATime(Role::kServer, stream);
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events,
            (std::vector<Event>{message(Opcode::kText, ""), message(Opcode::kBinary, ""),
                                message(Opcode::kText, "x")}));
}

TEST(FrameDecoder, reports_buffered_bytes_of_a_partial_message_and_releases_them) {
  FrameDecoder decoder(Role::kServer, kLimit);
  Recorder recorder;
  const std::string first = clientFrame(Opcode::kBinary, std::string(300, 'a'), false);
  const std::string last = clientFrame(Opcode::kContinuation, std::string(200, 'b'));
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
  decoder.feed(first.data(), first.size(), recorder);
  EXPECT_EQ(decoder.bufferedBytes(), 300u);
  decoder.feed(last.data(), last.size() - 50, recorder);
  EXPECT_EQ(decoder.bufferedBytes(), 450u);
  decoder.feed(last.data() + last.size() - 50, 50, recorder);
  EXPECT_EQ(decoder.bufferedBytes(), 0u);
  ASSERT_EQ(recorder.events.size(), 1u);
  EXPECT_EQ(recorder.events[0].payload.size(), 500u);
}

TEST(FrameDecoder, unmasks_each_frame_with_its_own_key) {
  const std::string stream = encodeMaskedFrame(Opcode::kText, "first", 0x00000000) +
                             encodeMaskedFrame(Opcode::kText, "second", 0xFFFFFFFF) +
                             encodeMaskedFrame(Opcode::kText, "third!!!!!", 0x12345678);
  const Outcome out = decode(Role::kServer, stream);
  EXPECT_EQ(out.events,
            (std::vector<Event>{message(Opcode::kText, "first"), message(Opcode::kText, "second"),
                                message(Opcode::kText, "third!!!!!")}));
}

// ---- Arbitrary chunking ----

// A stream exercising every frame kind, all three length encodings and a split character.
std::string mixedClientStream() {
  return clientFrame(Opcode::kText, "Hel", false) + clientFrame(Opcode::kPing, "are you there") +
         clientFrame(Opcode::kContinuation, "lo w\xC3", false) + clientFrame(Opcode::kPong, "") +
         clientFrame(Opcode::kContinuation, "\xB6rld") +
         clientFrame(Opcode::kBinary, patterned(300)) + clientFrame(Opcode::kText, "") +
         clientFrame(Opcode::kBinary, patterned(70000)) +
         clientFrame(Opcode::kText, "\xF0\x9F\x98\x80 tail") +
         clientFrame(Opcode::kClose, bytes({0x03, 0xE8}) + "bye");
}

std::vector<Event> mixedClientEvents() {
  return {ping("are you there"),
          pong(""),
          message(Opcode::kText, "Hello w\xC3\xB6rld"),
          message(Opcode::kBinary, patterned(300)),
          message(Opcode::kText, ""),
          message(Opcode::kBinary, patterned(70000)),
          message(Opcode::kText, "\xF0\x9F\x98\x80 tail"),
          close(close_code::kNormal, "bye")};
}

TEST(FrameDecoder, decodes_a_mixed_stream_fed_at_once) {
  const Outcome out = decode(Role::kServer, mixedClientStream());
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, mixedClientEvents());
}

TEST(FrameDecoder, decodes_a_mixed_stream_fed_one_byte_at_a_time) {
  const Outcome out = decodeByteAtATime(Role::kServer, mixedClientStream());
  EXPECT_EQ(out.closeCode, 0);
  EXPECT_EQ(out.events, mixedClientEvents());
}

TEST(FrameDecoder, gives_identical_events_for_a_split_at_every_position) {
  // Without the 70000-byte frame so that the quadratic sweep stays fast.
  const std::string stream =
      clientFrame(Opcode::kText, "Hel", false) + clientFrame(Opcode::kPing, "are you there") +
      clientFrame(Opcode::kContinuation, "lo w\xC3", false) + clientFrame(Opcode::kPong, "") +
      clientFrame(Opcode::kContinuation, "\xB6rld") + clientFrame(Opcode::kBinary, patterned(300)) +
      clientFrame(Opcode::kText, "") + clientFrame(Opcode::kClose, bytes({0x03, 0xE8}) + "bye");
  const Outcome whole = decode(Role::kServer, stream);
  ASSERT_EQ(whole.closeCode, 0);
  ASSERT_EQ(whole.events.size(), 6u);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    const Outcome split = decodeWithCuts(Role::kServer, stream, {cut});
    ASSERT_EQ(split.closeCode, 0) << cut;
    ASSERT_EQ(split.events, whole.events) << cut;
  }
}

TEST(FrameDecoder, gives_identical_events_for_random_splits) {
  const std::string stream = mixedClientStream();
  std::mt19937 rng(20240601);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<size_t> cuts;
    size_t at = 0;
    for (;;) {
      // Mostly small pieces, sometimes large ones, to hit header/payload boundaries.
      at += (rng() % 4 == 0) ? 1 + rng() % 20000 : 1 + rng() % 16;
      if (at >= stream.size()) break;
      cuts.push_back(at);
    }
    const Outcome out = decodeWithCuts(Role::kServer, stream, cuts);
    ASSERT_EQ(out.closeCode, 0) << iter;
    ASSERT_EQ(out.events, mixedClientEvents()) << iter;
  }
}

TEST(FrameDecoder, finds_the_same_error_for_every_split_position) {
  const std::string stream = clientFrame(Opcode::kText, "ok") +
                             clientFrame(Opcode::kText, "still \xCE", false) +
                             clientFrame(Opcode::kPing, "x") +
                             clientFrame(Opcode::kContinuation, "\xBA then \xED\xA0\x80 bad");
  const Outcome whole = decode(Role::kServer, stream);
  ASSERT_EQ(whole.closeCode, close_code::kInvalidPayload);
  ASSERT_EQ(whole.events, (std::vector<Event>{message(Opcode::kText, "ok"), ping("x")}));
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    const Outcome split = decodeWithCuts(Role::kServer, stream, {cut});
    ASSERT_EQ(split.closeCode, whole.closeCode) << cut;
    ASSERT_EQ(split.events, whole.events) << cut;
  }
}

TEST(FrameDecoder, decodes_unmasked_frames_in_client_role_with_random_splits) {
  const std::string stream =
      encodeFrame(Opcode::kText, "Hel", false) + encodeFrame(Opcode::kPing, "p") +
      encodeFrame(Opcode::kContinuation, "lo") + encodeFrame(Opcode::kBinary, patterned(65536)) +
      encodeClose(close_code::kGoingAway, "restart");
  const std::vector<Event> expected = {ping("p"), message(Opcode::kText, "Hello"),
                                       message(Opcode::kBinary, patterned(65536)),
                                       close(close_code::kGoingAway, "restart")};
  std::mt19937 rng(7);
  for (int iter = 0; iter < 50; ++iter) {
    std::vector<size_t> cuts;
    for (size_t at = 1 + rng() % 9; at < stream.size(); at += 1 + rng() % 5000) cuts.push_back(at);
    const Outcome out = decodeWithCuts(Role::kClient, stream, cuts);
    ASSERT_EQ(out.closeCode, 0) << iter;
    ASSERT_EQ(out.events, expected) << iter;
  }
}

}  // namespace
}  // namespace heimdallr::ws
