#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ws/Opcode.h"
#include "ws/Utf8Validator.h"

namespace heimdallr::ws {

/// Which end of the connection decodes: a server requires masked frames, a client (tests, load
/// generator) requires unmasked ones (RFC 6455 §5.1).
enum class Role : uint8_t { kServer, kClient };

/// Incremental decoder of WebSocket frames into messages and control frames (RFC 6455 §5).
/// Bytes may arrive in any chunking, down to one byte at a time. Never throws on peer input:
/// violations come back as an Error carrying the close code to send.
/// Not thread-safe: one per connection, used only on its I/O loop thread.
class FrameDecoder {
 public:
  /// Callbacks happen synchronously inside feed(), on the caller's thread. They must not call
  /// feed() again or destroy the decoder. string_view arguments are valid only during the call.
  class Handler {
   public:
    virtual ~Handler() = default;
    /// A complete data message; `op` is kText (already UTF-8 validated) or kBinary. The payload
    /// is moved out of the decoder: keep it without copying.
    virtual void onMessage(Opcode op, std::string&& payload) = 0;
    virtual void onPing(std::string_view payload) = 0;
    virtual void onPong(std::string_view payload) = 0;
    /// `code` is close_code::kNoStatus when the close frame was empty. After this call the
    /// decoder ignores all further input (a peer sends nothing after its close frame).
    virtual void onClose(uint16_t code, std::string_view reason) = 0;
  };

  /// A protocol violation: `closeCode` (1002, 1007 or 1009) and a short reason to send back.
  struct Error {
    uint16_t closeCode = 0;
    std::string reason;
    explicit operator bool() const { return closeCode != 0; }
  };

  /// `maxMessageBytes` bounds a whole data message (all its fragments); larger ones fail with
  /// 1009 as soon as a frame header announces them, before any of their payload is buffered.
  FrameDecoder(Role role, size_t maxMessageBytes);

  /// Consumes all of [data, data + len), delivering events to `handler` as they complete.
  /// Returns a non-empty Error on the first violation; from then on the decoder is failed, ignores
  /// further input and returns the same error.
  Error feed(const char* data, size_t len, Handler& handler);

  /// Payload bytes held for a partial data message and a partial control frame (for memory
  /// accounting). The buffer's capacity may exceed this by up to the usual string growth.
  size_t bufferedBytes() const { return message_.size() + control_.size(); }

 private:
  enum class State : uint8_t { kHeader, kPayload, kClosed, kFailed };

  static constexpr size_t kMaxHeaderBytes = 14;

  bool parseFirstTwoBytes();
  bool finishHeader(Handler& handler);
  bool consumePayload(const char* data, size_t len);
  bool finishFrame(Handler& handler);
  bool finishClose(Handler& handler);
  bool fail(uint16_t closeCode, const char* reason);
  bool isControlFrame() const { return (opcode_ & 0x08) != 0; }

  const Role role_;
  const size_t maxMessageBytes_;
  State state_ = State::kHeader;

  // The frame being decoded. Its header is collected here because it may arrive split.
  uint8_t header_[kMaxHeaderBytes] = {};
  uint8_t headerLen_ = 0;
  uint8_t headerNeed_ = 2;
  uint8_t opcode_ = 0;
  bool fin_ = false;
  bool masked_ = false;
  uint32_t maskKey_ = 0;
  uint64_t payloadLen_ = 0;
  uint64_t payloadPos_ = 0;

  // The data message being reassembled; open from its first frame until the FIN fragment.
  bool inMessage_ = false;
  Opcode messageOp_ = Opcode::kText;
  std::string message_;
  Utf8Validator utf8_;

  // Payload of the current control frame, kept apart so that it can interleave with fragments.
  std::string control_;

  Error error_;
};

}  // namespace heimdallr::ws
