#include "room/RoomFrames.h"

#include <Poco/Base64Encoder.h>
#include <Poco/JSONString.h>

#include <sstream>

#include "ws/FrameEncoder.h"

namespace heimdallr::room {

namespace {
void appendString(std::string& out, const std::string& text) {
  out += Poco::toJSON(text, Poco::JSON_WRAP_STRINGS);
}

std::string base64(const std::string& bytes) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.rdbuf()->setLineLength(0);
  encoder << bytes;
  encoder.close();
  return out.str();
}
}  // namespace

net::SharedBuffer rawFrameOf(const bus::BusMessage& msg) {
  if (msg.kind != bus::MessageKind::kMessage) return nullptr;
  const bool binary = (msg.flags & bus::BusMessage::kFlagBinary) != 0;
  return net::makeSharedBuffer(
      ws::encodeFrame(binary ? ws::Opcode::kBinary : ws::Opcode::kText, msg.payload));
}

void appendMessageJson(std::string& out, const std::string& roomId, const bus::BusMessage& msg,
                       bool push) {
  out += push ? "{\"push\":\"message\",\"room\":" : "{\"room\":";
  appendString(out, roomId);
  if (msg.offset != 0) {
    out += ",\"offset\":";
    out += std::to_string(msg.offset);
  }
  if (msg.flags & bus::BusMessage::kFlagJson) {
    out += ",\"data\":";
    out += msg.payload;  // compact JSON, written by the v2 parser
  } else if (msg.flags & bus::BusMessage::kFlagBinary) {
    out += ",\"raw\":true,\"b64\":\"";
    out += base64(msg.payload);
    out += '"';
  } else {
    out += ",\"raw\":true,\"data\":";
    appendString(out, msg.payload);  // validated UTF-8: a text frame
  }
  out += ",\"from\":{\"client\":";
  appendString(out, msg.senderClient);
  out += ",\"user\":";
  appendString(out, msg.senderUser);
  out += "}}";
}

void appendMemberJson(std::string& out, const bus::PresenceMember& member) {
  out += "{\"client\":";
  appendString(out, member.client);
  out += ",\"user\":";
  appendString(out, member.user);
  out += ",\"info\":";
  out += member.info.empty() ? "null" : member.info;  // compact JSON from a verified token
  out += ",\"node\":";
  appendString(out, member.node);
  out += '}';
}

net::SharedBuffer v2FrameOf(const std::string& roomId, const bus::BusMessage& msg) {
  std::string json;
  json.reserve(msg.payload.size() + roomId.size() + 96);
  if (msg.kind == bus::MessageKind::kMessage) {
    appendMessageJson(json, roomId, msg, true);
  } else {
    json += msg.kind == bus::MessageKind::kJoin ? "{\"push\":\"join\",\"room\":"
                                                : "{\"push\":\"leave\",\"room\":";
    appendString(json, roomId);
    json += ",\"member\":";
    json += msg.payload;  // a member object, written by the host
    json += '}';
  }
  return net::makeSharedBuffer(ws::encodeFrame(ws::Opcode::kText, json));
}

}  // namespace heimdallr::room
