#pragma once

#include <string_view>
#include <variant>

#include "v2/Command.h"

namespace heimdallr::v2 {

/// Parses one v2 text frame: a JSON object holding an unsigned integer `id` and exactly one
/// command member, e.g. {"id":4,"publish":{"room":"42","data":{"text":"hi"}}}. Members a command
/// does not know are ignored (newer clients may send more); a later duplicate key wins. Never
/// throws; a pure function, so thread-safe and fuzzed as is (tests/fuzz/v2_command).
std::variant<Command, CommandError> parseCommand(std::string_view frame);

/// The command names, as they appear on the wire ("connect", "join", ...).
const char* commandName(const CommandBody& body);

}  // namespace heimdallr::v2
