#include "SoakConnection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <utility>

#include "Clock.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::soak {
namespace {

constexpr size_t kMaxMessageBytes = 1 << 20;
constexpr size_t kMaxUpgradeResponse = 16 * 1024;
constexpr int kReadsPerEvent = 8;
constexpr size_t kCompactAt = 64 * 1024;

std::string websocketKey(uint64_t seed) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string key;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < 21; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    key.push_back(kAlphabet[x % 64]);
  }
  return key + "A==";  // 22 characters + "==": 16 bytes, the last character canonical
}

}  // namespace

SoakConnection::SoakConnection(uint64_t id, const Endpoint& target, std::string path,
                               Listener& listener, int epollFd)
    : id_(id),
      target_(target),
      path_(std::move(path)),
      listener_(listener),
      epollFd_(epollFd),
      maskState_(static_cast<uint32_t>(id * 747796405u + 2891336453u) | 1u) {}

SoakConnection::~SoakConnection() {
  if (fd_ >= 0) ::close(fd_);
}

uint32_t SoakConnection::nextMask() {
  uint32_t x = maskState_;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  maskState_ = x;
  return x;
}

void SoakConnection::setState(State s) {
  state_ = s;
  stateSinceNs_ = bench::monotonicNs();
}

bool SoakConnection::start(size_t upgradeBytes) {
  upgradeBytes_ = upgradeBytes;
  setState(State::kConnecting);
  decoder_.emplace(ws::Role::kClient, kMaxMessageBytes);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    finish(false, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_addr = target_.addr;
  remote.sin_port = htons(target_.port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
      errno != EINPROGRESS) {
    finish(false, std::string("connect: ") + std::strerror(errno));
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = this;
  if (::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd_, &ev) != 0) {
    finish(false, std::string("epoll_ctl: ") + std::strerror(errno));
    return false;
  }
  wantWrite_ = true;
  return true;
}

void SoakConnection::onEvent(uint32_t events, char* scratch, size_t scratchSize) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      finish(false, std::string("connect: ") + std::strerror(err));
      return;
    }
    if (!(events & (EPOLLOUT | EPOLLIN))) {
      finish(false, "connect: hang-up");
      return;
    }
    setState(State::kUpgrading);
    out_ =
        "GET " + path_ + " HTTP/1.1\r\nHost: " + target_.text +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + websocketKey(id_) +
        "\r\nSec-WebSocket-Version: 13\r\n" +
        (subprotocol_.empty() ? std::string()
                              : "Sec-WebSocket-Protocol: " + subprotocol_ + "\r\n") +
        "\r\n";
    if (upgradeBytes_ < out_.size()) out_.resize(upgradeBytes_);
    flush();
    return;
  }
  if (events & EPOLLOUT) flush();
  if (state_ == State::kClosed) return;
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;

  for (int i = 0; i < kReadsPerEvent; ++i) {
    const ssize_t n = ::recv(fd_, scratch, scratchSize, 0);
    if (n > 0) {
      recvNs_ = bench::monotonicNs();
      if (state_ == State::kUpgrading) {
        handleUpgradeResponse(scratch, static_cast<size_t>(n));
      } else {
        feedFrames(scratch, static_cast<size_t>(n));
      }
      if (state_ == State::kClosed) return;
      if (static_cast<size_t>(n) < scratchSize) break;
      continue;
    }
    if (n == 0) {
      if (weSentClose_ && closeReceived_) {
        finish(true, "closed cleanly");
      } else if (closeReceived_) {
        finish(false, "server closed with " + std::to_string(serverCloseCode_.value_or(0)) + " " +
                          serverCloseReason_);
      } else {
        finish(false, state_ == State::kUpgrading ? "EOF during the upgrade"
                                                  : "EOF without a close frame");
      }
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    finish(false, std::string("recv: ") + std::strerror(errno));
    return;
  }
}

void SoakConnection::handleUpgradeResponse(const char* data, size_t len) {
  upgradeBuf_.append(data, len);
  const size_t end = upgradeBuf_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (upgradeBuf_.size() > kMaxUpgradeResponse) finish(false, "upgrade: response too large");
    return;
  }
  if (upgradeBuf_.compare(0, 12, "HTTP/1.1 101") != 0) {
    finish(false, "upgrade refused: " + upgradeBuf_.substr(0, upgradeBuf_.find("\r\n")));
    return;
  }
  if (!subprotocol_.empty()) {
    std::string head = upgradeBuf_.substr(0, end + 2);
    for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string want = "\r\nsec-websocket-protocol: " + subprotocol_ + "\r\n";
    for (char& ch : want) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (head.find(want) == std::string::npos) {
      finish(false, "upgrade: the server did not echo Sec-WebSocket-Protocol " + subprotocol_);
      return;
    }
  }
  std::string rest = upgradeBuf_.substr(end + 4);
  upgradeBuf_.clear();
  upgradeBuf_.shrink_to_fit();
  setState(State::kOpen);
  listener_.onOpen(*this);
  if (!rest.empty() && state_ != State::kClosed) feedFrames(rest.data(), rest.size());
}

void SoakConnection::feedFrames(const char* data, size_t len) {
  const ws::FrameDecoder::Error err = decoder_->feed(data, len, *this);
  if (err) {
    finish(false, "protocol error from server: " + err.reason);
  }
}

void SoakConnection::onMessage(ws::Opcode op, std::string&& payload) {
  if (op != ws::Opcode::kText) return;
  if (state_ == State::kOpen || state_ == State::kClosing) {
    listener_.onMessage(*this, payload, recvNs_);
  }
}

void SoakConnection::onPing(std::string_view payload) { sendFrame(ws::Opcode::kPong, payload); }

void SoakConnection::onPong(std::string_view) {}

void SoakConnection::onClose(uint16_t code, std::string_view reason) {
  closeReceived_ = true;
  serverCloseCode_ = code;
  serverCloseReason_ = std::string(reason);
  if (!weSentClose_) {
    // The server started the close: echo it (RFC 6455 §5.5.1) and wait for its EOF.
    const std::string body{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    sendFrame(ws::Opcode::kClose, body);
    if (state_ != State::kClosed) setState(State::kClosing);
  }
}

bool SoakConnection::sendText(std::string_view payload) {
  if (state_ != State::kOpen) return false;
  sendFrame(ws::Opcode::kText, payload);
  return state_ == State::kOpen;
}

void SoakConnection::closeGracefully() {
  if (state_ != State::kOpen) return;
  const std::string body{static_cast<char>(1000 >> 8), static_cast<char>(1000 & 0xFF)};
  sendFrame(ws::Opcode::kClose, body);
  if (state_ == State::kClosed) return;
  weSentClose_ = true;
  setState(State::kClosing);
}

void SoakConnection::abort(bool reset) {
  if (state_ == State::kClosed) return;
  if (reset && fd_ >= 0) {
    linger lg{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  finish(false, "aborted by client");
}

void SoakConnection::sendFrame(ws::Opcode op, std::string_view payload) {
  if (state_ == State::kClosed || fd_ < 0) return;
  out_ += ws::encodeMaskedFrame(op, payload, nextMask());
  flush();
}

void SoakConnection::flush() {
  while (outOffset_ < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + outOffset_, out_.size() - outOffset_, MSG_NOSIGNAL);
    if (n > 0) {
      outOffset_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (outOffset_ >= kCompactAt) {
        out_.erase(0, outOffset_);
        outOffset_ = 0;
      }
      setWantWrite(true);
      return;
    }
    finish(false, std::string("send: ") + std::strerror(errno));
    return;
  }
  out_.clear();
  outOffset_ = 0;
  setWantWrite(false);
}

void SoakConnection::setWantWrite(bool want) {
  if (want == wantWrite_ || fd_ < 0) return;
  epoll_event ev{};
  ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.ptr = this;
  ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, fd_, &ev);
  wantWrite_ = want;
}

void SoakConnection::finish(bool clean, std::string why) {
  if (state_ == State::kClosed) return;
  setState(State::kClosed);
  if (fd_ >= 0) {
    ::close(fd_);  // also leaves the epoll set
    fd_ = -1;
  }
  out_.clear();
  out_.shrink_to_fit();
  outOffset_ = 0;
  listener_.onClosed(*this, clean, why);
}

}  // namespace heimdallr::soak
