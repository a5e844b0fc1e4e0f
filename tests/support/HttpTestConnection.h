#pragma once

#include <Poco/Net/StreamSocket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace heimdallr::test {

/// One raw HTTP/1.1 connection for tests that need keep-alive or pipelining: send any bytes, then
/// read the responses one at a time (framed by Content-Length). Not thread-safe.
class HttpTestConnection {
 public:
  struct Response {
    int status = 0;
    std::string head;  // status line and headers, up to and including the blank line
    std::string body;
    /// The value of header `name` (case-insensitive), trimmed, or nullopt when absent.
    std::optional<std::string> header(const std::string& name) const;
  };

  /// Connects to 127.0.0.1:port.
  explicit HttpTestConnection(uint16_t port);

  void send(const std::string& bytes);
  /// The next response, or nullopt on timeout or when the connection ended first. Pass
  /// `headRequest` for the answer to a HEAD: its Content-Length announces no body.
  std::optional<Response> readResponse(bool headRequest = false,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// True when the server closed the connection within `timeout`; bytes read meanwhile are
  /// dropped.
  bool waitForEof(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// Bytes received but not yet returned as part of a response.
  const std::string& unread() const { return buffer_; }

 private:
  /// Reads once; false on timeout or end of stream.
  bool readSome(std::chrono::steady_clock::time_point deadline);

  Poco::Net::StreamSocket socket_;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace heimdallr::test
