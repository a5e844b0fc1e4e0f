#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace heimdallr::bench {

/// The three wire protocols one driver speaks. kHeimdallr and kWs are the same protocol (a text
/// frame is the message) against different servers; kSocketIo wraps it in Engine.IO v4 /
/// Socket.IO v5 packets over a plain WebSocket.
enum class Protocol : uint8_t { kHeimdallr, kWs, kSocketIo };

std::optional<Protocol> parseProtocol(std::string_view name);
const char* protocolName(Protocol protocol);

/// The request target that joins `room`: "/{room}", or for Socket.IO
/// "/socket.io/?EIO=4&transport=websocket&room={room}" (the peer joins the room named there).
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

/// The payload of a `42["msg","…"]` event; nullopt for any other event.
std::optional<std::string_view> socketIoMessagePayload(std::string_view frame);

}  // namespace heimdallr::bench
