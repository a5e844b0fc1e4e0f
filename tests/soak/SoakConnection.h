#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ClientConnection.h"  // bench::Endpoint, parseEndpoint
#include "ws/FrameDecoder.h"

namespace heimdallr::soak {

using bench::Endpoint;

/// One non-blocking WebSocket client on an epoll set, for the soak: connect, upgrade, text
/// messages, and the three ways a client leaves — a clean close handshake (close frame, wait for
/// the server's close frame and EOF), an abrupt close() (FIN without a close frame) and a reset
/// (SO_LINGER 0). Pings are answered here. Frames are built and checked by heimdallr's own codec.
/// Not thread-safe: it lives on the thread that polls its epoll set.
class SoakConnection final : private ws::FrameDecoder::Handler {
 public:
  enum class State : uint8_t { kNew, kConnecting, kUpgrading, kOpen, kClosing, kClosed };

  /// Callbacks from inside onEvent() or a leave call, on the polling thread. They must not
  /// destroy the connection (the driver defers that).
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void onOpen(SoakConnection& conn) = 0;
    /// A text message, read at `recvNs` (CLOCK_MONOTONIC). Valid only during the call.
    virtual void onMessage(SoakConnection& conn, std::string_view payload, uint64_t recvNs) = 0;
    /// The connection is gone. `clean` is true only for a close handshake we started that the
    /// server completed (its close frame, then EOF). `why` says what happened otherwise.
    virtual void onClosed(SoakConnection& conn, bool clean, const std::string& why) = 0;
  };

  SoakConnection(uint64_t id, const Endpoint& target, std::string path, Listener& listener,
                 int epollFd);
  ~SoakConnection() override;
  SoakConnection(const SoakConnection&) = delete;
  SoakConnection& operator=(const SoakConnection&) = delete;

  /// Starts connecting. False (with onClosed() already called) when it failed at once.
  /// `upgradeBytes` sends only that much of the upgrade request (a client that goes away in the
  /// middle of its handshake); the default sends all of it.
  bool start(size_t upgradeBytes = SIZE_MAX);
  /// Offers `Sec-WebSocket-Protocol: <name>` in the upgrade (call before start()); the server must
  /// echo it, or the upgrade counts as refused.
  void setSubprotocol(std::string name) { subprotocol_ = std::move(name); }
  void onEvent(uint32_t events, char* scratch, size_t scratchSize);

  /// Sends one text message; false when not open.
  bool sendText(std::string_view payload);

  /// Starts the close handshake with code 1000; onClosed(clean=true) follows when the server
  /// answers with its close frame and closes the TCP connection.
  void closeGracefully();
  /// Closes the socket at once without a close frame: `reset` sends an RST (SO_LINGER 0), else a
  /// FIN. onClosed(clean=false, "aborted by client") is called before this returns.
  void abort(bool reset);

  State state() const { return state_; }
  uint64_t id() const { return id_; }
  /// When the current state began (CLOCK_MONOTONIC ns): the driver times closes out with it.
  uint64_t stateSinceNs() const { return stateSinceNs_; }
  /// The code and reason of the server's close frame, when one arrived.
  std::optional<uint16_t> serverCloseCode() const { return serverCloseCode_; }
  const std::string& serverCloseReason() const { return serverCloseReason_; }

 private:
  void onMessage(ws::Opcode op, std::string&& payload) override;
  void onPing(std::string_view payload) override;
  void onPong(std::string_view payload) override;
  void onClose(uint16_t code, std::string_view reason) override;

  void setState(State s);
  void handleUpgradeResponse(const char* data, size_t len);
  void feedFrames(const char* data, size_t len);
  void sendFrame(ws::Opcode op, std::string_view payload);
  void flush();
  void setWantWrite(bool want);
  void finish(bool clean, std::string why);
  uint32_t nextMask();

  const uint64_t id_;
  const Endpoint target_;
  const std::string path_;
  Listener& listener_;
  const int epollFd_;
  std::string subprotocol_;

  int fd_ = -1;
  size_t upgradeBytes_ = SIZE_MAX;
  State state_ = State::kNew;
  uint64_t stateSinceNs_ = 0;
  bool wantWrite_ = false;
  bool weSentClose_ = false;
  bool closeReceived_ = false;
  std::optional<uint16_t> serverCloseCode_;
  std::string serverCloseReason_;
  uint64_t recvNs_ = 0;
  uint32_t maskState_;

  std::string upgradeBuf_;
  std::optional<ws::FrameDecoder> decoder_;
  std::string out_;
  size_t outOffset_ = 0;
};

}  // namespace heimdallr::soak
