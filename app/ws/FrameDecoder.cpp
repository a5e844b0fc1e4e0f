#include "ws/FrameDecoder.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::ws {
namespace {

constexpr uint8_t kFinBit = 0x80;
constexpr uint8_t kRsvBits = 0x70;
constexpr uint8_t kOpcodeBits = 0x0F;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLengthBits = 0x7F;
constexpr uint8_t kLength16 = 126;
constexpr uint8_t kLength64 = 127;

// A declared length is a promise, not memory the peer has paid for: reserve at most this much up
// front so that a peer trickling in a large message cannot pin its full size with a few bytes.
constexpr size_t kMaxEagerReserve = 64 * 1024;

bool isKnownOpcode(uint8_t op) {
  switch (static_cast<Opcode>(op)) {
    case Opcode::kContinuation:
    case Opcode::kText:
    case Opcode::kBinary:
    case Opcode::kClose:
    case Opcode::kPing:
    case Opcode::kPong:
      return true;
  }
  return false;
}

}  // namespace

FrameDecoder::FrameDecoder(Role role, size_t maxMessageBytes)
    : role_(role), maxMessageBytes_(maxMessageBytes) {}

FrameDecoder::Error FrameDecoder::feed(const char* data, size_t len, Handler& handler) {
  if (state_ == State::kFailed) return error_;
  size_t pos = 0;
  while (pos < len) {
    switch (state_) {
      case State::kHeader: {
        const size_t take = std::min<size_t>(headerNeed_ - headerLen_, len - pos);
        std::memcpy(header_ + headerLen_, data + pos, take);
        headerLen_ = static_cast<uint8_t>(headerLen_ + take);
        pos += take;
        if (headerLen_ < headerNeed_) break;
        // The first two bytes tell how long the rest of the header is, and already allow most
        // checks, so a bad frame fails before its length and mask arrive.
        if (headerLen_ == 2) {
          if (!parseFirstTwoBytes()) return error_;
          if (headerNeed_ > 2) break;
        }
        if (!finishHeader(handler)) return error_;
        break;
      }
      case State::kPayload: {
        const size_t take =
            static_cast<size_t>(std::min<uint64_t>(payloadLen_ - payloadPos_, len - pos));
        if (!consumePayload(data + pos, take)) return error_;
        pos += take;
        if (payloadPos_ == payloadLen_ && !finishFrame(handler)) return error_;
        break;
      }
      case State::kClosed:
        return {};
      case State::kFailed:
        return error_;
    }
  }
  return {};
}

bool FrameDecoder::parseFirstTwoBytes() {
  const uint8_t b0 = header_[0];
  const uint8_t b1 = header_[1];
  // No extension is ever negotiated, so every RSV bit must be clear.
  if (b0 & kRsvBits) return fail(close_code::kProtocolError, "reserved bits set");
  opcode_ = b0 & kOpcodeBits;
  if (!isKnownOpcode(opcode_)) return fail(close_code::kProtocolError, "reserved opcode");
  fin_ = (b0 & kFinBit) != 0;
  masked_ = (b1 & kMaskBit) != 0;
  if (role_ == Role::kServer && !masked_) {
    return fail(close_code::kProtocolError, "client frame not masked");
  }
  if (role_ == Role::kClient && masked_) {
    return fail(close_code::kProtocolError, "server frame masked");
  }
  const uint8_t len7 = b1 & kLengthBits;
  if (isControlFrame()) {
    if (!fin_) return fail(close_code::kProtocolError, "fragmented control frame");
    if (len7 > kMaxControlPayload) {
      return fail(close_code::kProtocolError, "control frame too long");
    }
  } else if (static_cast<Opcode>(opcode_) == Opcode::kContinuation) {
    if (!inMessage_) return fail(close_code::kProtocolError, "continuation without message");
  } else if (inMessage_) {
    return fail(close_code::kProtocolError, "new message inside fragmented message");
  }
  headerNeed_ = 2;
  if (len7 == kLength16) headerNeed_ += 2;
  if (len7 == kLength64) headerNeed_ += 8;
  if (masked_) headerNeed_ += 4;
  return true;
}

bool FrameDecoder::finishHeader(Handler& handler) {
  const uint8_t len7 = header_[1] & kLengthBits;
  size_t at = 2;
  if (len7 == kLength16) {
    payloadLen_ = (uint64_t{header_[2]} << 8) | header_[3];
    at += 2;
  } else if (len7 == kLength64) {
    payloadLen_ = 0;
    for (size_t i = 0; i < 8; ++i) payloadLen_ = (payloadLen_ << 8) | header_[2 + i];
    at += 8;
    if (payloadLen_ >> 63) return fail(close_code::kProtocolError, "length has MSB set");
  } else {
    payloadLen_ = len7;
  }
  if (masked_) {
    maskKey_ = (uint32_t{header_[at]} << 24) | (uint32_t{header_[at + 1]} << 16) |
               (uint32_t{header_[at + 2]} << 8) | uint32_t{header_[at + 3]};
  }
  payloadPos_ = 0;
  headerLen_ = 0;
  headerNeed_ = 2;

  if (!isControlFrame()) {
    // message_.size() <= maxMessageBytes_ always holds, so the subtraction cannot wrap.
    if (payloadLen_ > maxMessageBytes_ - message_.size()) {
      return fail(close_code::kMessageTooBig, "message too big");
    }
    if (static_cast<Opcode>(opcode_) != Opcode::kContinuation) {
      inMessage_ = true;
      messageOp_ = static_cast<Opcode>(opcode_);
      message_.reserve(static_cast<size_t>(std::min<uint64_t>(payloadLen_, kMaxEagerReserve)));
    }
  }
  if (payloadLen_ == 0) return finishFrame(handler);
  state_ = State::kPayload;
  return true;
}

bool FrameDecoder::consumePayload(const char* data, size_t len) {
  // Unmask in place after appending: the bytes are copied once, straight into the buffer that
  // onMessage() will receive.
  std::string& buffer = isControlFrame() ? control_ : message_;
  const size_t at = buffer.size();
  buffer.append(data, len);
  if (masked_) applyMask(buffer.data() + at, len, maskKey_, static_cast<size_t>(payloadPos_));
  payloadPos_ += len;
  // Validate text as it arrives so that garbage fails at its first bad byte, not at the end.
  if (!isControlFrame() && messageOp_ == Opcode::kText && !utf8_.feed(buffer.data() + at, len)) {
    return fail(close_code::kInvalidPayload, "invalid UTF-8 in text message");
  }
  return true;
}

bool FrameDecoder::finishFrame(Handler& handler) {
  state_ = State::kHeader;
  switch (static_cast<Opcode>(opcode_)) {
    case Opcode::kPing:
      handler.onPing(control_);
      control_.clear();
      return true;
    case Opcode::kPong:
      handler.onPong(control_);
      control_.clear();
      return true;
    case Opcode::kClose:
      return finishClose(handler);
    case Opcode::kContinuation:
    case Opcode::kText:
    case Opcode::kBinary:
      break;
  }
  if (!fin_) return true;
  if (messageOp_ == Opcode::kText && !utf8_.complete()) {
    return fail(close_code::kInvalidPayload, "truncated UTF-8 in text message");
  }
  inMessage_ = false;
  utf8_.reset();
  handler.onMessage(messageOp_, std::move(message_));
  message_.clear();  // a moved-from string is valid but unspecified
  return true;
}

bool FrameDecoder::finishClose(Handler& handler) {
  if (control_.size() == 1) return fail(close_code::kProtocolError, "close payload of 1 byte");
  uint16_t code = close_code::kNoStatus;
  std::string_view reason;
  if (!control_.empty()) {
    code = static_cast<uint16_t>((uint8_t(control_[0]) << 8) | uint8_t(control_[1]));
    if (!close_code::isValidReceivedCloseCode(code)) {
      return fail(close_code::kProtocolError, "invalid close code");
    }
    reason = std::string_view(control_).substr(2);
    if (!Utf8Validator::isValid(reason)) {
      return fail(close_code::kInvalidPayload, "invalid UTF-8 in close reason");
    }
  }
  state_ = State::kClosed;
  handler.onClose(code, reason);
  control_.clear();
  message_ = std::string();  // nothing more will arrive: release a partial message now
  return true;
}

bool FrameDecoder::fail(uint16_t closeCode, const char* reason) {
  state_ = State::kFailed;
  error_.closeCode = closeCode;
  error_.reason = reason;
  // The connection is being closed: release the buffers rather than wait for destruction.
  message_ = std::string();
  control_ = std::string();
  return false;
}

}  // namespace heimdallr::ws
