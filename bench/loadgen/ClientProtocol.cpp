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
  if (name == "v2") return Protocol::kV2;
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
    case Protocol::kV2:
      return "v2";
  }
  return "?";
}

std::string requestPath(Protocol protocol, std::string_view room) {
  if (protocol == Protocol::kSocketIo) {
    return "/socket.io/?EIO=4&transport=websocket&room=" + std::string(room);
  }
  if (protocol == Protocol::kV2) return "/";
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

std::optional<std::string_view> socketIoEventOffset(std::string_view frame) {
  const auto payload = socketIoMessagePayload(frame);
  if (!payload) return std::nullopt;
  // payload = `<payload>","<offset>` when an offset follows; the payload has no quotes.
  const size_t sep = payload->rfind("\",\"");
  if (sep == std::string_view::npos) return std::nullopt;
  return payload->substr(sep + 3);
}

std::optional<std::string_view> jsonStringField(std::string_view json, std::string_view key) {
  std::string needle;
  needle.reserve(key.size() + 4);
  needle.append("\"").append(key).append("\":\"");
  const size_t at = json.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  const size_t start = at + needle.size();
  const size_t end = json.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  return json.substr(start, end - start);
}

std::optional<uint64_t> jsonUintField(std::string_view json, std::string_view key) {
  std::string needle;
  needle.reserve(key.size() + 3);
  needle.append("\"").append(key).append("\":");
  const size_t at = json.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  size_t i = at + needle.size();
  if (i >= json.size() || json[i] < '0' || json[i] > '9') return std::nullopt;
  uint64_t v = 0;
  for (; i < json.size() && json[i] >= '0' && json[i] <= '9'; ++i) {
    v = v * 10 + static_cast<uint64_t>(json[i] - '0');
  }
  return v;
}

size_t countOccurrences(std::string_view text, std::string_view needle) {
  if (needle.empty()) return 0;
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

std::string socketIoRecoveryConnect(std::string_view pid, std::string_view offset) {
  std::string out = "40{\"pid\":\"";
  out.append(pid).append("\",\"offset\":\"").append(offset).append("\"}");
  return out;
}

std::string v2Connect(uint64_t id, std::string_view name) {
  std::string out = "{\"id\":" + std::to_string(id) + ",\"connect\":{\"name\":\"";
  out.append(name).append("\"}}");
  return out;
}

std::string v2Join(uint64_t id, std::string_view room, const V2Position* since) {
  std::string out = "{\"id\":" + std::to_string(id) + ",\"join\":{\"room\":\"";
  out.append(room).append("\"");
  if (since) {
    out.append(",\"since\":{\"offset\":")
        .append(std::to_string(since->offset))
        .append(",\"epoch\":\"")
        .append(since->epoch)
        .append("\"}");
  }
  out.append("}}");
  return out;
}

std::string v2Presence(uint64_t id, std::string_view room) {
  std::string out = "{\"id\":" + std::to_string(id) + ",\"presence\":{\"room\":\"";
  out.append(room).append("\"}}");
  return out;
}

void v2Publish(uint64_t id, std::string_view room, std::string_view payload, std::string& out) {
  out.clear();
  out.append("{\"id\":")
      .append(std::to_string(id))
      .append(",\"publish\":{\"room\":\"")
      .append(room)
      .append("\",\"data\":\"")
      .append(payload)
      .append("\"}}");
}

V2Frame parseV2Frame(std::string_view frame) {
  static constexpr std::string_view kId = "{\"id\":";
  static constexpr std::string_view kMessage = "{\"push\":\"message\",";
  static constexpr std::string_view kPush = "{\"push\":";
  static constexpr std::string_view kData = ",\"data\":";
  V2Frame f;
  if (frame.substr(0, kId.size()) == kId) {
    size_t i = kId.size();
    for (; i < frame.size() && frame[i] >= '0' && frame[i] <= '9'; ++i) {
      f.id = f.id * 10 + static_cast<uint64_t>(frame[i] - '0');
    }
    f.kind = V2Frame::Kind::kReply;
    const std::string_view rest = frame.substr(i);
    f.ok = rest.substr(0, 6) == ",\"ok\":";
    if (!f.ok) f.errorCode = static_cast<int>(jsonUintField(rest, "code").value_or(0));
    return f;
  }
  if (frame.substr(0, kMessage.size()) == kMessage) {
    f.kind = V2Frame::Kind::kMessage;
    // {"push":"message","room":"<id>","offset":N,"data":...,"from":{...}}: the room id has no
    // quotes, the offset comes before the data.
    const size_t data = frame.find(kData);
    if (data == std::string_view::npos) return f;
    f.offset = jsonUintField(frame.substr(0, data), "offset").value_or(0);
    const size_t start = data + kData.size();
    if (start < frame.size() && frame[start] == '"') {
      const size_t end = frame.find('"', start + 1);
      if (end != std::string_view::npos) f.data = frame.substr(start + 1, end - start - 1);
    }
    return f;
  }
  if (frame.substr(0, kPush.size()) == kPush) f.kind = V2Frame::Kind::kOtherPush;
  return f;
}

}  // namespace heimdallr::bench
