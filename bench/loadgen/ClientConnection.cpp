#include "ClientConnection.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "Clock.h"
#include "ws/FrameEncoder.h"

namespace heimdallr::bench {
namespace {

constexpr size_t kMaxMessageBytes = 1 << 20;
constexpr size_t kMaxUpgradeResponse = 16 * 1024;
constexpr int kReadsPerEvent = 8;  // fairness between sockets: re-polled if more is waiting
constexpr size_t kCompactAt = 64 * 1024;

std::string base64Key(uint32_t seed) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // 16 pseudo-random bytes -> 22 base64 characters + "==" (RFC 6455 §4.1: any 16 bytes will do).
  std::string key;
  uint32_t x = seed * 2654435761u + 1;
  for (int i = 0; i < 22; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    key.push_back(kAlphabet[x % 64]);
  }
  key.back() = kAlphabet[(x % 4) * 16];  // last char of 16 bytes encodes 2 bits: keep it canonical
  return key + "==";
}

}  // namespace

std::optional<Endpoint> parseEndpoint(std::string_view hostPort) {
  const size_t colon = hostPort.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Endpoint e;
  const std::string host(hostPort.substr(0, colon));
  if (inet_pton(AF_INET, host.c_str(), &e.addr) != 1) return std::nullopt;
  const std::string port(hostPort.substr(colon + 1));
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p <= 0 || p > 65535) return std::nullopt;
  e.port = static_cast<uint16_t>(p);
  e.text = std::string(hostPort);
  return e;
}

ClientConnection::ClientConnection(uint32_t id, Protocol protocol, const Endpoint& target,
                                   std::optional<in_addr> source, std::string path,
                                   Listener& listener, int epollFd)
    : id_(id),
      protocol_(protocol),
      target_(target),
      source_(source),
      path_(std::move(path)),
      listener_(listener),
      epollFd_(epollFd),
      maskState_(id * 747796405u + 2891336453u) {}

ClientConnection::~ClientConnection() {
  if (fd_ >= 0) ::close(fd_);
}

uint32_t ClientConnection::nextMask() {
  uint32_t x = maskState_;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  maskState_ = x;
  return x;
}

bool ClientConnection::start() {
  ++attempts_;
  if (fd_ >= 0) ::close(fd_);
  state_ = State::kConnecting;
  closing_ = false;
  wantWrite_ = true;
  upgradeBuf_.clear();
  out_.clear();
  outOffset_ = 0;
  decoder_.emplace(ws::Role::kClient, kMaxMessageBytes);
  nextCommandId_ = 1;
  joinId_ = 0;

  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail(std::string("socket: ") + std::strerror(errno));
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source_) {
    // Pick the port at connect() time, per destination: each source address then offers the
    // whole ephemeral range to every server port.
    ::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr = *source_;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      fail(std::string("bind: ") + std::strerror(errno));
      return false;
    }
  }
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_addr = target_.addr;
  remote.sin_port = htons(target_.port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
      errno != EINPROGRESS) {
    fail(std::string("connect: ") + std::strerror(errno));
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = this;
  if (::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd_, &ev) != 0) {
    fail(std::string("epoll_ctl: ") + std::strerror(errno));
    return false;
  }
  return true;
}

void ClientConnection::onEvent(uint32_t events, char* scratch, size_t scratchSize) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(std::string("connect: ") + std::strerror(err));
      return;
    }
    if (!(events & (EPOLLOUT | EPOLLIN))) {
      fail("connect: hang-up");
      return;
    }
    state_ = State::kUpgrading;
    out_ = "GET " + path_ + " HTTP/1.1\r\nHost: " + target_.text +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
           base64Key(id_ + static_cast<uint32_t>(attempts_) * 7919u) +
           "\r\nSec-WebSocket-Version: 13\r\n";
    if (protocol_ == Protocol::kV2) {
      out_ += "Sec-WebSocket-Protocol: ";
      out_ += kV2Subprotocol;
      out_ += "\r\n";
    }
    out_ += "\r\n";
    flush();
    return;
  }
  if (events & EPOLLOUT) flush();
  if (state_ == State::kClosed) return;
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;

  for (int i = 0; i < kReadsPerEvent; ++i) {
    const ssize_t n = ::recv(fd_, scratch, scratchSize, 0);
    if (n > 0) {
      recvNs_ = monotonicNs();
      if (state_ == State::kUpgrading) {
        handleUpgradeResponse(scratch, static_cast<size_t>(n));
      } else {
        feedFrames(scratch, static_cast<size_t>(n));
      }
      if (state_ == State::kClosed) return;
      if (static_cast<size_t>(n) < scratchSize) break;  // drained for now; epoll says if more
      continue;
    }
    if (n == 0) {
      fail(closeWhy_.empty() ? "closed by server (EOF)" : closeWhy_);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    if (errno == EINTR) continue;
    fail(std::string("recv: ") + std::strerror(errno));
    return;
  }
}

void ClientConnection::handleUpgradeResponse(const char* data, size_t len) {
  upgradeBuf_.append(data, len);
  const size_t end = upgradeBuf_.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (upgradeBuf_.size() > kMaxUpgradeResponse) fail("upgrade: response head too large");
    return;
  }
  if (upgradeBuf_.compare(0, 12, "HTTP/1.1 101") != 0) {
    fail("upgrade refused: " + upgradeBuf_.substr(0, upgradeBuf_.find("\r\n")));
    return;
  }
  std::string rest = upgradeBuf_.substr(end + 4);
  upgradeBuf_.clear();
  upgradeBuf_.shrink_to_fit();
  if (protocol_ == Protocol::kSocketIo) {
    state_ = State::kSocketIoOpening;
  } else if (protocol_ == Protocol::kV2) {
    state_ = State::kV2Connecting;
    sendFrame(ws::Opcode::kText, v2Connect(takeCommandId(), "bench-" + std::to_string(id_)));
  } else {
    state_ = State::kOpen;
    listener_.onOpen(*this);
  }
  if (!rest.empty() && state_ != State::kClosed) feedFrames(rest.data(), rest.size());
}

void ClientConnection::feedFrames(const char* data, size_t len) {
  const ws::FrameDecoder::Error err = decoder_->feed(data, len, *this);
  if (err) {
    sendFrame(ws::Opcode::kClose, {});
    fail("protocol error from server: " + err.reason);
    return;
  }
  if (closing_) fail(closeWhy_);
}

void ClientConnection::onMessage(ws::Opcode, std::string&& payload) {
  if (closing_) return;
  if (protocol_ == Protocol::kV2) {
    onV2Frame(payload);
    return;
  }
  if (protocol_ != Protocol::kSocketIo) {
    if (state_ == State::kOpen) listener_.onMessage(*this, payload, recvNs_);
    return;
  }
  switch (classifySocketIo(payload)) {
    case SocketIoPacket::kOpen:
      // connect the default namespace (asking for a recovered session when told to)
      socketIoConnectSentNs = monotonicNs();
      sendFrame(ws::Opcode::kText,
                socketIoConnectPacket.empty() ? std::string_view("40") : socketIoConnectPacket);
      break;
    case SocketIoPacket::kConnected:
      if (auto pid = jsonStringField(payload, "pid")) socketIoPid = std::string(*pid);
      if (state_ == State::kSocketIoOpening) {
        state_ = State::kOpen;
        listener_.onOpen(*this);
      }
      break;
    case SocketIoPacket::kPing:
      sendFrame(ws::Opcode::kText, "3");
      break;
    case SocketIoPacket::kEvent:
      // Recovered packets may be written before the CONNECT reply: pass them on when asked for.
      if (state_ == State::kOpen ||
          (state_ == State::kSocketIoOpening && !socketIoConnectPacket.empty())) {
        if (auto inner = socketIoMessagePayload(payload)) {
          if (trackSocketIoOffset) {
            if (auto offset = socketIoEventOffset(payload))
              socketIoLastOffset = std::string(*offset);
          }
          listener_.onMessage(*this, *inner, recvNs_);
        }
      }
      break;
    case SocketIoPacket::kClose:
      closing_ = true;
      closeWhy_ = "socket.io close packet: " + payload.substr(0, 80);
      break;
    case SocketIoPacket::kOther:
      break;
  }
}

void ClientConnection::onPing(std::string_view payload) { sendFrame(ws::Opcode::kPong, payload); }

void ClientConnection::onPong(std::string_view) {}

void ClientConnection::onClose(uint16_t code, std::string_view reason) {
  closing_ = true;
  closeWhy_ = "server closed with " + std::to_string(code) + " " + std::string(reason);
  sendFrame(ws::Opcode::kClose, {});
}

bool ClientConnection::sendMessage(std::string_view payload) {
  if (state_ != State::kOpen) return false;
  if (protocol_ == Protocol::kV2) {
    v2Publish(takeCommandId(), v2Room, payload, wrapBuf_);
  } else {
    wrapMessage(protocol_, payload, wrapBuf_);
  }
  sendFrame(ws::Opcode::kText, wrapBuf_);
  return state_ == State::kOpen;
}

bool ClientConnection::sendText(std::string_view text) {
  if (state_ != State::kOpen) return false;
  sendFrame(ws::Opcode::kText, text);
  return state_ == State::kOpen;
}

void ClientConnection::drop() { fail("dropped by the client"); }

void ClientConnection::onV2Frame(const std::string& frame) {
  if (state_ == State::kOpen) {
    listener_.onMessage(*this, frame, recvNs_);
    return;
  }
  const V2Frame f = parseV2Frame(frame);
  if (f.kind != V2Frame::Kind::kReply) return;  // nothing is pushed before the join's reply
  if (state_ == State::kV2Connecting && f.id == 1) {
    if (!f.ok) {
      closing_ = true;
      closeWhy_ = "v2 connect refused: " + frame.substr(0, 160);
      return;
    }
    if (v2AutoJoin && !v2Room.empty()) {
      state_ = State::kV2Joining;
      joinId_ = takeCommandId();
      sendFrame(ws::Opcode::kText, v2Join(joinId_, v2Room));
      return;
    }
    state_ = State::kOpen;
    listener_.onOpen(*this);
    return;
  }
  if (state_ == State::kV2Joining && f.id == joinId_) {
    if (!f.ok) {
      closing_ = true;
      closeWhy_ = "v2 join refused: " + frame.substr(0, 160);
      return;
    }
    state_ = State::kOpen;
    listener_.onOpen(*this);
  }
}

void ClientConnection::sendFrame(ws::Opcode op, std::string_view payload) {
  if (state_ == State::kClosed || fd_ < 0) return;
  out_ += ws::encodeMaskedFrame(op, payload, nextMask());
  flush();
}

void ClientConnection::flush() {
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
    fail(std::string("send: ") + std::strerror(errno));
    return;
  }
  out_.clear();
  outOffset_ = 0;
  setWantWrite(false);
}

void ClientConnection::setWantWrite(bool want) {
  if (want == wantWrite_ || fd_ < 0) return;
  epoll_event ev{};
  ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  ev.data.ptr = this;
  ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, fd_, &ev);
  wantWrite_ = want;
}

void ClientConnection::fail(std::string why) {
  if (state_ == State::kClosed) return;
  const bool wasOpen = state_ == State::kOpen;
  state_ = State::kClosed;
  if (fd_ >= 0) {
    ::close(fd_);  // also leaves the epoll set
    fd_ = -1;
  }
  out_.clear();
  out_.shrink_to_fit();
  outOffset_ = 0;
  listener_.onClosed(*this, wasOpen, why);
}

}  // namespace heimdallr::bench
