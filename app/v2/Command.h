#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "history/StreamPosition.h"

/// The commands a client sends in protocol v2 (docs/PROTOCOL.md), as parsed from one text frame.
/// Plain data: every field has been checked for shape (room ids valid, offsets unsigned), not yet
/// against the session, the token or the config.
namespace heimdallr::v2 {

using history::StreamPosition;

struct ConnectCommand {
  std::string token;  // "" when absent (auth off)
  std::string name;   // "" when absent; the user when auth is off
};
struct JoinCommand {
  std::string room;
  std::optional<StreamPosition> since;  // asks for recovery
};
struct LeaveCommand {
  std::string room;
};
struct PublishCommand {
  std::string room;
  std::string dataJson;  // `data`, any JSON value, re-serialised compactly
};
struct PresenceCommand {
  std::string room;
};
struct HistoryCommand {
  std::string room;
  std::optional<StreamPosition> since;
  std::optional<uint64_t> limit;
};
struct RefreshCommand {
  std::string token;
};

using CommandBody = std::variant<ConnectCommand, JoinCommand, LeaveCommand, PublishCommand,
                                 PresenceCommand, HistoryCommand, RefreshCommand>;

struct Command {
  uint64_t id = 0;
  CommandBody body;
};

/// The `code` of an error reply. Numbers follow HTTP where the meaning is the same.
enum class ErrorCode : int {
  kBadRequest = 400,      // a field missing or of the wrong shape; the message names it
  kUnauthorized = 401,    // no, an invalid or an expired token
  kForbidden = 403,       // the token does not grant the room (`rooms`, `pub`)
  kUnknownCommand = 404,  // not one of the commands above
  kNotJoined = 409,       // publish or leave in a room this session has not joined
  kTooLarge = 413,        // `data` beyond limits.max_message_bytes
  kRateLimited = 429,     // beyond limits.messages_per_second
  kUnavailable = 503,     // the bus is down: nothing was published
};

/// A frame that is not a command. With `id` the session can answer with an error reply and go on;
/// without one (not JSON, not an object, no unsigned integer `id`) it cannot answer, and closes.
struct CommandError {
  std::optional<uint64_t> id;
  ErrorCode code = ErrorCode::kBadRequest;
  std::string message;
};

}  // namespace heimdallr::v2
