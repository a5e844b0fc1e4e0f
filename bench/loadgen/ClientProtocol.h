#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace heimdallr::bench {

/// The wire protocols one driver speaks. kHeimdallr and kWs are the same protocol (a text frame is
/// the message) against different servers; kSocketIo wraps it in Engine.IO v4 / Socket.IO v5
/// packets over a plain WebSocket; kV2 is heimdallr's protocol v2 (docs/PROTOCOL.md): upgrade on
/// "/" with the subprotocol heimdallr.v2, JSON commands with ids, the payload as a JSON string in
/// `publish.data` and in the `message` push.
enum class Protocol : uint8_t { kHeimdallr, kWs, kSocketIo, kV2 };

/// The subprotocol a v2 client offers (Sec-WebSocket-Protocol).
inline constexpr std::string_view kV2Subprotocol = "heimdallr.v2";

std::optional<Protocol> parseProtocol(std::string_view name);
const char* protocolName(Protocol protocol);

/// The request target that joins `room`: "/{room}", or for Socket.IO
/// "/socket.io/?EIO=4&transport=websocket&room={room}" (the peer joins the room named there), or
/// "/" for v2 (the room is named in the `join` command).
std::string requestPath(Protocol protocol, std::string_view room);

/// The text-frame content that carries `payload` as one chat message: the payload itself, or the
/// Socket.IO event `42["msg","<payload>"]` (the payload never needs JSON escaping).
void wrapMessage(Protocol protocol, std::string_view payload, std::string& out);

/// Socket.IO packets the client has to react to, classified from a text frame's content.
enum class SocketIoPacket : uint8_t {
  kOpen,       // "0{...}"  Engine.IO open: answer "40"
  kConnected,  // "40{...}" namespace connected
  kPing,       // "2"       answer "3"
  kEvent,      // "42[...]" an event
  kClose,      // "1", "41" or "44...": the server is closing or refusing us
  kOther,
};
SocketIoPacket classifySocketIo(std::string_view frame);

/// The payload of a `42["msg","…"]` event; nullopt for any other event. With connection state
/// recovery on, the event carries the server's offset as a last argument
/// (`42["msg","…","<offset>"]`); the view then runs on to it, which decodePayload() ignores (it
/// reads the fixed-width head).
std::optional<std::string_view> socketIoMessagePayload(std::string_view frame);

/// The offset Socket.IO's connection state recovery appends to a broadcast event as its last
/// string argument (`42["msg","<payload>","<offset>"]`); nullopt when there is none.
std::optional<std::string_view> socketIoEventOffset(std::string_view frame);

/// The value of `"key":"<value>"` in a JSON text (first occurrence, no escapes in the value), e.g.
/// the `pid` of a Socket.IO CONNECT reply `40{"sid":"…","pid":"…"}`; nullopt when absent.
std::optional<std::string_view> jsonStringField(std::string_view json, std::string_view key);
/// The value of `"key":<unsigned integer>` (first occurrence); nullopt when absent.
std::optional<uint64_t> jsonUintField(std::string_view json, std::string_view key);
/// How often `needle` occurs in `text` (non-overlapping).
size_t countOccurrences(std::string_view text, std::string_view needle);

/// The namespace CONNECT that asks Socket.IO to recover session `pid` after `offset`:
/// `40{"pid":"…","offset":"…"}`.
std::string socketIoRecoveryConnect(std::string_view pid, std::string_view offset);

// ---- protocol v2 ----------------------------------------------------------------------------

/// A room's stream position, as a v2 `since`.
struct V2Position {
  uint64_t offset = 0;
  std::string epoch;
};

/// `{"id":N,"connect":{"name":"…"}}`
std::string v2Connect(uint64_t id, std::string_view name);
/// `{"id":N,"join":{"room":"…"}}`, with `"since":{"offset":O,"epoch":"…"}` when given.
std::string v2Join(uint64_t id, std::string_view room, const V2Position* since = nullptr);
/// `{"id":N,"presence":{"room":"…"}}`
std::string v2Presence(uint64_t id, std::string_view room);
/// `{"id":N,"publish":{"room":"…","data":"<payload>"}}` into `out` (the payload needs no JSON
/// escaping: printable ASCII without quotes or backslashes).
void v2Publish(uint64_t id, std::string_view room, std::string_view payload, std::string& out);

/// What a server frame of protocol v2 is, read from its fixed head (the server writes every
/// reply as `{"id":N,"ok":…}` or `{"id":N,"error":{"code":C,…}}` and every push as
/// `{"push":"<kind>","room":…}`), without a JSON parser.
struct V2Frame {
  enum class Kind : uint8_t { kReply, kMessage, kOtherPush, kOther };
  Kind kind = Kind::kOther;
  uint64_t id = 0;        // kReply
  bool ok = false;        // kReply
  int errorCode = 0;      // kReply with an error
  uint64_t offset = 0;    // kMessage in a room with history (0 otherwise)
  std::string_view data;  // kMessage: the content of a string `data` (empty for other values)
};
V2Frame parseV2Frame(std::string_view frame);

/// Calls `fn(data)` for the string `data` of every message object in a `join` or `history` reply,
/// in order; returns how many there were.
template <typename Fn>
size_t forEachV2MessageData(std::string_view reply, Fn&& fn) {
  static constexpr std::string_view kKey = ",\"data\":\"";
  size_t n = 0;
  for (size_t at = reply.find(kKey); at != std::string_view::npos; at = reply.find(kKey, at)) {
    at += kKey.size();
    const size_t end = reply.find('"', at);
    if (end == std::string_view::npos) break;
    fn(reply.substr(at, end - at));
    ++n;
    at = end;
  }
  return n;
}

}  // namespace heimdallr::bench
