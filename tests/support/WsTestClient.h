#pragma once

#include <Poco/Net/StreamSocket.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "ws/FrameDecoder.h"
#include "ws/Opcode.h"

namespace heimdallr::test {

/// A deliberately low-level WebSocket client for tests: it can send any bytes (unmasked frames,
/// bad opcodes, half a frame) and reports exactly what the server sends back, including the close
/// code. Uses the project's own codec in client role. Not thread-safe.
class WsTestClient {
 public:
  struct Frame {
    ws::Opcode opcode;
    std::string payload;
    uint16_t closeCode = 0;  // for close frames
  };

  /// Connects to 127.0.0.1:port. Call handshake() next (or sendRaw for broken handshakes).
  explicit WsTestClient(uint16_t port);
  /// Same, but sets SO_RCVBUF to `receiveBufferBytes` before connecting, so that the TCP window
  /// is small from the start and a client that never reads backs the server up quickly.
  WsTestClient(uint16_t port, int receiveBufferBytes);
  /// Connects from `sourceAddress` (another loopback address such as 127.0.0.2), to look like a
  /// different client IP.
  WsTestClient(uint16_t port, const std::string& sourceAddress);

  /// Sends a handshake for `path` and reads the response head. Returns the HTTP status.
  int handshake(const std::string& path, const std::vector<std::string>& extraHeaders = {});
  const std::string& responseHead() const { return responseHead_; }

  void sendText(const std::string& text) { sendFrame(ws::Opcode::kText, text); }
  void sendBinary(const std::string& bytes) { sendFrame(ws::Opcode::kBinary, bytes); }
  void sendFrame(ws::Opcode opcode, const std::string& payload, bool fin = true);
  void sendRaw(const std::string& bytes);

  /// The next frame from the server, or nullopt on timeout or when the connection ended.
  std::optional<Frame> receive(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// Skips data frames until a close frame: its code, or -1 when the connection ended without
  /// one (or the timeout passed).
  int receiveCloseCode(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// True when the server closed the TCP connection within `timeout`.
  bool waitForEof(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  Poco::Net::StreamSocket& socket() { return socket_; }

 private:
  class Collector;
  bool readSome(std::chrono::milliseconds timeout);

  Poco::Net::StreamSocket socket_;
  ws::FrameDecoder decoder_;
  std::deque<Frame> frames_;
  std::string responseHead_;
  std::string leftover_;  // bytes read past the handshake response
  bool eof_ = false;
};

/// One plain HTTP request over a fresh connection; returns status and body.
struct HttpResult {
  int status = 0;
  std::string body;
  std::string head;
};
HttpResult httpGet(uint16_t port, const std::string& path);
/// Sends `request` as raw bytes and returns whatever the server answers until it closes or
/// `timeout` passes.
std::string rawHttpExchange(uint16_t port, const std::string& request,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace heimdallr::test
