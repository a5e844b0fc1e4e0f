// libFuzzer target: protocol v2 command frames (app/v2/CommandParser.h) from arbitrary bytes.
// 1. parseCommand never throws, crashes or trips a sanitizer, and gives the same answer twice.
// 2. A parsed command is well-shaped: valid room ids, an epoch of at most 64 bytes, a name of at
//    most 256, and `data` that is compact JSON (parsing and condensing it gives it back).
// 3. Written out again as a frame (by this file, not by the code under test), a parsed command
//    parses to the same command.

#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <variant>

#include "FuzzCheck.h"
#include "room/RoomId.h"
#include "v2/CommandParser.h"

namespace {

using namespace heimdallr::v2;

std::string quoted(const std::string& text) {
  std::ostringstream out;
  Poco::JSON::Stringifier::formatString(text, out);
  return out.str();
}

std::string since(const std::optional<StreamPosition>& position) {
  if (!position) return "";
  return R"(,"since":{"offset":)" + std::to_string(position->offset) + R"(,"epoch":)" +
         quoted(position->epoch) + "}";
}

std::string frameOf(const Command& command) {
  std::string body = std::visit(
      [](const auto& c) -> std::string {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, ConnectCommand>) {
          return R"("token":)" + quoted(c.token) + R"(,"name":)" + quoted(c.name);
        } else if constexpr (std::is_same_v<T, JoinCommand>) {
          return R"("room":)" + quoted(c.room) + since(c.since);
        } else if constexpr (std::is_same_v<T, PublishCommand>) {
          return R"("room":)" + quoted(c.room) + R"(,"data":)" + c.dataJson;
        } else if constexpr (std::is_same_v<T, HistoryCommand>) {
          return R"("room":)" + quoted(c.room) + since(c.since) +
                 (c.limit ? R"(,"limit":)" + std::to_string(*c.limit) : "");
        } else if constexpr (std::is_same_v<T, RefreshCommand>) {
          return R"("token":)" + quoted(c.token);
        } else {
          return R"("room":)" + quoted(c.room);  // leave, presence
        }
      },
      command.body);
  return R"({"id":)" + std::to_string(command.id) + ",\"" + commandName(command.body) + "\":{" +
         body + "}}";
}

bool sameCommand(const Command& a, const Command& b) {
  if (a.id != b.id || a.body.index() != b.body.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        const T& y = std::get<T>(b.body);
        if constexpr (std::is_same_v<T, ConnectCommand>) {
          return x.token == y.token && x.name == y.name;
        } else if constexpr (std::is_same_v<T, JoinCommand>) {
          return x.room == y.room && x.since == y.since;
        } else if constexpr (std::is_same_v<T, PublishCommand>) {
          return x.room == y.room && x.dataJson == y.dataJson;
        } else if constexpr (std::is_same_v<T, HistoryCommand>) {
          return x.room == y.room && x.since == y.since && x.limit == y.limit;
        } else if constexpr (std::is_same_v<T, RefreshCommand>) {
          return x.token == y.token;
        } else {
          return x.room == y.room;
        }
      },
      a.body);
}

// POCO's parser takes only an object or an array at the top, so a value goes inside [ ].
std::string condensed(const std::string& json) {
  Poco::JSON::Parser parser;
  std::ostringstream out;
  Poco::JSON::Stringifier::condense(parser.parse(json), out);
  return out.str();
}

void checkShape(const Command& command) {
  std::visit(
      [](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, ConnectCommand>) {
          FUZZ_CHECK(c.name.size() <= 256);
        } else if constexpr (std::is_same_v<T, RefreshCommand>) {
        } else {
          FUZZ_CHECK(heimdallr::room::isValidRoomId(c.room));
        }
        if constexpr (std::is_same_v<T, JoinCommand> || std::is_same_v<T, HistoryCommand>) {
          if (c.since) FUZZ_CHECK(c.since->epoch.size() <= 64);
        }
        if constexpr (std::is_same_v<T, PublishCommand>) {
          FUZZ_CHECK(condensed("[" + c.dataJson + "]") == "[" + c.dataJson + "]");
        }
      },
      command.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  const auto result = parseCommand(frame);
  const auto again = parseCommand(frame);
  FUZZ_CHECK(result.index() == again.index());
  if (const auto* error = std::get_if<CommandError>(&result)) {
    const auto& other = std::get<CommandError>(again);
    FUZZ_CHECK(error->id == other.id && error->code == other.code &&
               error->message == other.message);
    return 0;
  }
  const Command& command = std::get<Command>(result);
  FUZZ_CHECK(sameCommand(command, std::get<Command>(again)));
  checkShape(command);
  const auto reparsed = parseCommand(frameOf(command));
  FUZZ_CHECK(std::holds_alternative<Command>(reparsed));
  FUZZ_CHECK(sameCommand(command, std::get<Command>(reparsed)));
  return 0;
}
