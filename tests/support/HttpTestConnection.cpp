#include "support/HttpTestConnection.h"

#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/String.h>

#include <stdexcept>

namespace heimdallr::test {

std::optional<std::string> HttpTestConnection::Response::header(const std::string& name) const {
  size_t lineStart = head.find("\r\n");
  while (lineStart != std::string::npos) {
    lineStart += 2;
    const size_t lineEnd = head.find("\r\n", lineStart);
    if (lineEnd == std::string::npos) break;
    const std::string line = head.substr(lineStart, lineEnd - lineStart);
    const size_t colon = line.find(':');
    if (colon != std::string::npos && Poco::icompare(line.substr(0, colon), name) == 0) {
      return Poco::trim(line.substr(colon + 1));
    }
    lineStart = lineEnd;
  }
  return std::nullopt;
}

HttpTestConnection::HttpTestConnection(uint16_t port)
    : socket_(Poco::Net::SocketAddress("127.0.0.1", port)) {
  socket_.setNoDelay(true);
}

void HttpTestConnection::send(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const int n = socket_.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
    if (n <= 0) throw std::runtime_error("send failed");
    sent += static_cast<size_t>(n);
  }
}

bool HttpTestConnection::readSome(std::chrono::steady_clock::time_point deadline) {
  if (eof_) return false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  socket_.setReceiveTimeout(Poco::Timespan(static_cast<long>(left.count()) * 1000));
  char buffer[16384];
  try {
    const int n = socket_.receiveBytes(buffer, sizeof buffer);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buffer_.append(buffer, static_cast<size_t>(n));
    return true;
  } catch (const Poco::TimeoutException&) {
    return false;
  } catch (const Poco::Net::NetException&) {
    eof_ = true;  // reset by peer
    return false;
  }
}

std::optional<HttpTestConnection::Response> HttpTestConnection::readResponse(
    bool headRequest, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!readSome(deadline)) return std::nullopt;
  }
  Response response;
  response.head = buffer_.substr(0, end + 4);
  if (response.head.size() >= 12 && response.head.rfind("HTTP/", 0) == 0) {
    response.status = std::stoi(response.head.substr(9, 3));
  }
  size_t bodySize = 0;
  if (!headRequest) {
    if (auto length = response.header("Content-Length")) bodySize = std::stoul(*length);
  }
  while (buffer_.size() < end + 4 + bodySize) {
    if (!readSome(deadline)) return std::nullopt;
  }
  response.body = buffer_.substr(end + 4, bodySize);
  buffer_.erase(0, end + 4 + bodySize);
  return response;
}

bool HttpTestConnection::waitForEof(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    readSome(deadline);
  }
  return true;
}

}  // namespace heimdallr::test
