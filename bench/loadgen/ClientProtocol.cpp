#include "ClientProtocol.h"

namespace heimdallr::bench {
namespace {
constexpr std::string_view kEventPrefix = "42[\"msg\",\"";
constexpr std::string_view kEventSuffix = "\"]";
}  // namespace

std::optional<Protocol> parseProtocol(std::string_view name) {
  if (name == "heimdallr") return Protocol::kHeimdallr;
  if (name == "ws") return Protocol::kWs;
  if (name == "socketio") return Protocol::kSocketIo;
  return std::nullopt;
}

const char* protocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHeimdallr:
      return "heimdallr";
    case Protocol::kWs:
      return "ws";
    case Protocol::kSocketIo:
      return "socketio";
  }
  return "?";
}

std::string requestPath(Protocol protocol, std::string_view room) {
  if (protocol == Protocol::kSocketIo) {
    return "/socket.io/?EIO=4&transport=websocket&room=" + std::string(room);
  }
  return "/" + std::string(room);
}

void wrapMessage(Protocol protocol, std::string_view payload, std::string& out) {
  out.clear();
  if (protocol != Protocol::kSocketIo) {
    out.append(payload);
    return;
  }
  out.reserve(kEventPrefix.size() + payload.size() + kEventSuffix.size());
  out.append(kEventPrefix).append(payload).append(kEventSuffix);
}

SocketIoPacket classifySocketIo(std::string_view frame) {
  if (frame.empty()) return SocketIoPacket::kOther;
  switch (frame[0]) {
    case '0':
      return SocketIoPacket::kOpen;
    case '1':
      return SocketIoPacket::kClose;
    case '2':
      return SocketIoPacket::kPing;
    case '4':
      if (frame.size() < 2) return SocketIoPacket::kOther;
      if (frame[1] == '0') return SocketIoPacket::kConnected;
      if (frame[1] == '2') return SocketIoPacket::kEvent;
      if (frame[1] == '1' || frame[1] == '4') return SocketIoPacket::kClose;
      return SocketIoPacket::kOther;
    default:
      return SocketIoPacket::kOther;
  }
}

std::optional<std::string_view> socketIoMessagePayload(std::string_view frame) {
  if (frame.size() < kEventPrefix.size() + kEventSuffix.size() ||
      frame.substr(0, kEventPrefix.size()) != kEventPrefix ||
      frame.substr(frame.size() - kEventSuffix.size()) != kEventSuffix) {
    return std::nullopt;
  }
  return frame.substr(kEventPrefix.size(),
                      frame.size() - kEventPrefix.size() - kEventSuffix.size());
}

}  // namespace heimdallr::bench
