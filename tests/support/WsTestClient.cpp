#include "support/WsTestClient.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/StreamCopier.h>

#include <random>
#include <stdexcept>

#include "ws/FrameEncoder.h"

namespace heimdallr::test {

class WsTestClient::Collector : public ws::FrameDecoder::Handler {
 public:
  explicit Collector(std::deque<Frame>& frames) : frames_(frames) {}
  void onMessage(ws::Opcode op, std::string&& payload) override {
    frames_.push_back({op, std::move(payload), 0});
  }
  void onPing(std::string_view payload) override {
    frames_.push_back({ws::Opcode::kPing, std::string(payload), 0});
  }
  void onPong(std::string_view payload) override {
    frames_.push_back({ws::Opcode::kPong, std::string(payload), 0});
  }
  void onClose(uint16_t code, std::string_view reason) override {
    frames_.push_back({ws::Opcode::kClose, std::string(reason), code});
  }

 private:
  std::deque<Frame>& frames_;
};

WsTestClient::WsTestClient(uint16_t port)
    : socket_(Poco::Net::SocketAddress("127.0.0.1", port)),
      decoder_(ws::Role::kClient, 64 * 1024 * 1024) {
  socket_.setNoDelay(true);
}

WsTestClient::WsTestClient(uint16_t port, int receiveBufferBytes)
    : socket_(Poco::Net::SocketAddress::IPv4), decoder_(ws::Role::kClient, 64 * 1024 * 1024) {
  socket_.setReceiveBufferSize(receiveBufferBytes);
  socket_.connect(Poco::Net::SocketAddress("127.0.0.1", port));
  socket_.setNoDelay(true);
}

WsTestClient::WsTestClient(uint16_t port, const std::string& sourceAddress)
    : socket_(Poco::Net::SocketAddress::IPv4), decoder_(ws::Role::kClient, 64 * 1024 * 1024) {
  socket_.impl()->bind(Poco::Net::SocketAddress(sourceAddress, 0), false);
  socket_.connect(Poco::Net::SocketAddress("127.0.0.1", port));
  socket_.setNoDelay(true);
}

int WsTestClient::handshake(const std::string& path, const std::vector<std::string>& extraHeaders) {
  std::string request = "GET " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n";
  for (const auto& h : extraHeaders) request += h + "\r\n";
  request += "\r\n";
  sendRaw(request);
  std::string data;
  char buffer[4096];
  socket_.setReceiveTimeout(Poco::Timespan(5, 0));
  while (data.find("\r\n\r\n") == std::string::npos) {
    const int n = socket_.receiveBytes(buffer, sizeof buffer);
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string::npos) {
    responseHead_ = data;
    return 0;
  }
  responseHead_ = data.substr(0, end + 4);
  leftover_ = data.substr(end + 4);
  if (responseHead_.size() < 12) return 0;
  return std::stoi(responseHead_.substr(9, 3));
}

void WsTestClient::sendFrame(ws::Opcode opcode, const std::string& payload, bool fin) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  sendRaw(ws::encodeMaskedFrame(opcode, payload, static_cast<uint32_t>(rng()), fin));
}

void WsTestClient::sendRaw(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const int n = socket_.sendBytes(bytes.data() + sent, static_cast<int>(bytes.size() - sent));
    if (n <= 0) throw std::runtime_error("send failed");
    sent += static_cast<size_t>(n);
  }
}

bool WsTestClient::readSome(std::chrono::milliseconds timeout) {
  Collector collector(frames_);
  if (!leftover_.empty()) {
    std::string bytes;
    bytes.swap(leftover_);
    decoder_.feed(bytes.data(), bytes.size(), collector);
    if (!frames_.empty()) return true;
  }
  if (eof_) return false;
  char buffer[65536];
  socket_.setReceiveTimeout(Poco::Timespan(static_cast<long>(timeout.count()) * 1000));
  try {
    const int n = socket_.receiveBytes(buffer, sizeof buffer);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    decoder_.feed(buffer, static_cast<size_t>(n), collector);
    return true;
  } catch (const Poco::TimeoutException&) {
    return false;
  } catch (const Poco::Net::NetException&) {
    eof_ = true;  // reset by peer
    return false;
  }
}

std::optional<WsTestClient::Frame> WsTestClient::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (frames_.empty()) {
    // Rounded up, so that a short timeout such as 1 ms still polls the socket once.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (!readSome(left) && (eof_ || std::chrono::steady_clock::now() >= deadline)) {
      if (frames_.empty()) return std::nullopt;
    }
  }
  Frame frame = std::move(frames_.front());
  frames_.pop_front();
  return frame;
}

int WsTestClient::receiveCloseCode(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    auto frame = receive(left);
    if (!frame) return -1;
    if (frame->opcode == ws::Opcode::kClose) return frame->closeCode;
  }
}

bool WsTestClient::waitForEof(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    readSome(left);
    frames_.clear();
  }
  return true;
}

HttpResult httpGet(uint16_t port, const std::string& path) {
  Poco::Net::HTTPClientSession session("127.0.0.1", port);
  session.setTimeout(Poco::Timespan(5, 0));
  Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path,
                                 Poco::Net::HTTPMessage::HTTP_1_1);
  session.sendRequest(request);
  Poco::Net::HTTPResponse response;
  std::istream& body = session.receiveResponse(response);
  HttpResult result;
  result.status = response.getStatus();
  Poco::StreamCopier::copyToString(body, result.body);
  std::ostringstream head;
  response.write(head);
  result.head = head.str();
  return result;
}

std::string rawHttpExchange(uint16_t port, const std::string& request,
                            std::chrono::milliseconds timeout) {
  Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", port));
  if (!request.empty()) socket.sendBytes(request.data(), static_cast<int>(request.size()));
  socket.setReceiveTimeout(Poco::Timespan(static_cast<long>(timeout.count()) * 1000));
  std::string answer;
  char buffer[4096];
  try {
    for (;;) {
      const int n = socket.receiveBytes(buffer, sizeof buffer);
      if (n <= 0) break;
      answer.append(buffer, static_cast<size_t>(n));
    }
  } catch (const Poco::Exception&) {
  }
  return answer;
}

}  // namespace heimdallr::test
