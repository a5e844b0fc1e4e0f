#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ClientProtocol.h"
#include "SequenceTracker.h"
#include "ws/FrameDecoder.h"

namespace heimdallr::bench {

/// An IPv4 address and port.
struct Endpoint {
  in_addr addr{};
  uint16_t port = 0;
  std::string text;  // "host:port", for messages and the Host header
};
std::optional<Endpoint> parseEndpoint(std::string_view hostPort);

/// One non-blocking WebSocket client on an epoll set: connect (optionally from a chosen source
/// address), HTTP upgrade, the Socket.IO opening dance or the v2 `connect` (and, with v2Room set
/// and v2AutoJoin, the `join`) when the protocol says so, then chat messages. Frames are decoded by
/// heimdallr's own ws::FrameDecoder and built by ws::encodeMaskedFrame. Pings (WebSocket and
/// Engine.IO) are answered here. Not thread-safe: it lives on the thread that polls its epoll set.
class ClientConnection final : private ws::FrameDecoder::Handler {
 public:
  enum class State : uint8_t {
    kNew,
    kConnecting,
    kUpgrading,
    kSocketIoOpening,
    kV2Connecting,  // `connect` sent, waiting for its reply
    kV2Joining,     // auto-join: `join` sent, waiting for its reply
    kOpen,
    kClosed
  };

  /// Callbacks from inside onEvent(), on the polling thread. They may send on any connection
  /// but must not destroy one.
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void onOpen(ClientConnection& conn) = 0;
    /// A chat message payload (unwrapped from Socket.IO), read at `recvNs` (CLOCK_MONOTONIC).
    /// Valid only during the call. For v2 it is the whole server frame (a reply or a push: see
    /// parseV2Frame), once the connection is open. With socketIoConnectPacket set, Socket.IO
    /// events that come before the namespace CONNECT reply (recovered packets) are passed on too.
    virtual void onMessage(ClientConnection& conn, std::string_view payload, uint64_t recvNs) = 0;
    /// The connection failed or closed; `wasOpen` says whether onOpen() had been called.
    virtual void onClosed(ClientConnection& conn, bool wasOpen, const std::string& why) = 0;
  };

  ClientConnection(uint32_t id, Protocol protocol, const Endpoint& target,
                   std::optional<in_addr> source, std::string path, Listener& listener,
                   int epollFd);
  ~ClientConnection() override;
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  /// Starts connecting (again, after a failure). False with onClosed() already called when the
  /// socket could not even be created or the connect failed at once.
  bool start();

  /// Handles epoll events for this connection. `scratch` is a read buffer shared by all.
  void onEvent(uint32_t events, char* scratch, size_t scratchSize);

  /// Sends one chat message carrying `payload` (only when open; false otherwise or on error).
  /// v2: a `publish` to v2Room with the next command id.
  bool sendMessage(std::string_view payload);

  /// Sends one text frame as it is (a v2 command, say); only when open.
  bool sendText(std::string_view text);

  /// Closes the socket at once, without a close frame (a dropped network); onClosed() follows.
  void drop();

  /// The next v2 command id (1 is `connect`, 2 an auto-join).
  uint64_t takeCommandId() { return nextCommandId_++; }

  State state() const { return state_; }
  uint32_t id() const { return id_; }
  const Endpoint& target() const { return target_; }
  size_t attempts() const { return attempts_; }

  // Owned by the driver: which room this member is in, whether it records deliveries, its
  // publisher id (or -1), and what it has seen of each publisher of its room.
  uint32_t room = 0;
  bool records = false;
  int64_t publisher = -1;
  std::vector<SequenceTracker> trackers;

  // v2: the room `publish` goes to; with v2AutoJoin the connection joins it before onOpen().
  std::string v2Room;
  bool v2AutoJoin = false;
  // Socket.IO: sent instead of the bare namespace CONNECT "40" when set (a recovery attempt);
  // the pid of the session the server's CONNECT reply named; and when the CONNECT went out.
  std::string socketIoConnectPacket;
  std::string socketIoPid;
  uint64_t socketIoConnectSentNs = 0;
  // Socket.IO with connection state recovery: keep the offset of the last event (only when
  // asked, so that the throughput runs do not pay for it).
  bool trackSocketIoOffset = false;
  std::string socketIoLastOffset;

 private:
  void onMessage(ws::Opcode op, std::string&& payload) override;
  void onPing(std::string_view payload) override;
  void onPong(std::string_view payload) override;
  void onClose(uint16_t code, std::string_view reason) override;
  void onV2Frame(const std::string& frame);

  void handleUpgradeResponse(const char* data, size_t len);
  void feedFrames(const char* data, size_t len);
  void sendFrame(ws::Opcode op, std::string_view payload);
  void flush();
  void setWantWrite(bool want);
  void fail(std::string why);
  uint32_t nextMask();

  const uint32_t id_;
  const Protocol protocol_;
  const Endpoint target_;
  const std::optional<in_addr> source_;
  const std::string path_;
  Listener& listener_;
  const int epollFd_;

  int fd_ = -1;
  State state_ = State::kNew;
  bool wantWrite_ = false;
  bool closing_ = false;  // set inside decoder callbacks, acted upon after feed() returns
  std::string closeWhy_;
  size_t attempts_ = 0;
  uint64_t recvNs_ = 0;
  uint32_t maskState_;

  std::string upgradeBuf_;
  std::optional<ws::FrameDecoder> decoder_;  // fresh for every connection attempt
  std::string out_;
  size_t outOffset_ = 0;
  std::string wrapBuf_;
  uint64_t nextCommandId_ = 1;
  uint64_t joinId_ = 0;
};

}  // namespace heimdallr::bench
