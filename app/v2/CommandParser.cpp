#include "v2/CommandParser.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/JSON/Stringifier.h>

#include <array>
#include <sstream>
#include <string>
#include <typeinfo>

#include "room/RoomId.h"

namespace heimdallr::v2 {

namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Object;

// Deep enough for any sensible `data`; a bound on the parser's recursion all the same.
constexpr unsigned kMaxDepth = 32;
constexpr size_t kMaxNameBytes = 256;
constexpr size_t kMaxEpochBytes = 64;

constexpr std::array<const char*, 7> kCommandNames = {"connect",  "join",    "leave",  "publish",
                                                      "presence", "history", "refresh"};

// Thrown inside this file only, and always caught in parseCommand: a field's shape is wrong.
struct FieldError {
  std::string message;
};

// A JSON integer >= 0. POCO 1.11 hands integers over as Int64, or UInt64 beyond its range, and
// anything with a point or an exponent as a double (refused: not an integer).
std::optional<uint64_t> unsignedOf(const Var& value) {
  const std::type_info& type = value.type();
  if (type == typeid(Poco::UInt64)) return value.extract<Poco::UInt64>();
  if (type == typeid(Poco::Int64)) {
    const Poco::Int64 number = value.extract<Poco::Int64>();
    if (number >= 0) return static_cast<uint64_t>(number);
  }
  return std::nullopt;
}

class Fields {
 public:
  Fields(const Object& object, std::string path) : object_(object), path_(std::move(path)) {}

  bool has(const std::string& name) const { return object_.has(name) && !object_.isNull(name); }

  std::string string(const std::string& name) const {
    if (!has(name)) fail(name, "missing");
    const Var value = object_.get(name);
    if (value.type() != typeid(std::string)) fail(name, "not a string");
    return value.extract<std::string>();
  }

  std::string optionalString(const std::string& name) const {
    return has(name) ? string(name) : std::string();
  }

  std::string room() const {
    std::string id = string("room");
    if (!room::isValidRoomId(id)) fail("room", "not a room id (1 to 64 of A-Z a-z 0-9 _ -)");
    return id;
  }

  uint64_t unsignedNumber(const std::string& name) const {
    if (!has(name)) fail(name, "missing");
    const auto number = unsignedOf(object_.get(name));
    if (!number) fail(name, "not an unsigned integer");
    return *number;
  }

  std::optional<StreamPosition> since() const {
    if (!has("since")) return std::nullopt;
    const Object::Ptr nested = object("since");
    const Fields since(*nested, path_ + ".since");
    StreamPosition position;
    position.offset = since.unsignedNumber("offset");
    position.epoch = since.string("epoch");
    if (position.epoch.size() > kMaxEpochBytes) since.fail("epoch", "longer than 64 bytes");
    return position;
  }

  Object::Ptr object(const std::string& name) const {
    const Var value = object_.get(name);
    if (value.type() != typeid(Object::Ptr)) fail(name, "not an object");
    return value.extract<Object::Ptr>();
  }

  std::string json(const std::string& name) const {
    if (!object_.has(name)) fail(name, "missing");  // null is a value here
    std::ostringstream out;
    Poco::JSON::Stringifier::condense(object_.get(name), out);
    return out.str();
  }

  [[noreturn]] void fail(const std::string& name, const std::string& why) const {
    throw FieldError{path_ + "." + name + ": " + why};
  }

 private:
  const Object& object_;
  std::string path_;
};

CommandBody parseBody(const std::string& name, const Fields& fields) {
  if (name == "connect") {
    ConnectCommand connect{fields.optionalString("token"), fields.optionalString("name")};
    if (connect.name.size() > kMaxNameBytes) fields.fail("name", "longer than 256 bytes");
    return connect;
  }
  if (name == "join") return JoinCommand{fields.room(), fields.since()};
  if (name == "leave") return LeaveCommand{fields.room()};
  if (name == "publish") {
    std::string room = fields.room();
    return PublishCommand{std::move(room), fields.json("data")};
  }
  if (name == "presence") return PresenceCommand{fields.room()};
  if (name == "history") {
    HistoryCommand history{fields.room(), fields.since(), std::nullopt};
    if (fields.has("limit")) history.limit = fields.unsignedNumber("limit");
    return history;
  }
  return RefreshCommand{fields.string("token")};
}

bool isCommandName(const std::string& name) {
  for (const char* known : kCommandNames) {
    if (name == known) return true;
  }
  return false;
}

}  // namespace

std::variant<Command, CommandError> parseCommand(std::string_view frame) {
  Object::Ptr envelope;
  try {
    Poco::JSON::Parser parser;
    parser.setDepth(kMaxDepth);
    const Var value = parser.parse(std::string(frame));
    if (value.type() != typeid(Object::Ptr)) {
      return CommandError{std::nullopt, ErrorCode::kBadRequest, "a command is a JSON object"};
    }
    envelope = value.extract<Object::Ptr>();
  } catch (const std::exception&) {
    return CommandError{std::nullopt, ErrorCode::kBadRequest, "not JSON"};
  }
  // Read first and kept: every error from here on can be answered.
  const std::optional<uint64_t> id =
      envelope->has("id") ? unsignedOf(envelope->get("id")) : std::nullopt;
  if (!id) {
    return CommandError{std::nullopt, ErrorCode::kBadRequest,
                        "id: missing or not an unsigned integer"};
  }
  try {
    std::string name;
    for (const auto& [key, unused] : *envelope) {
      if (key == "id") continue;
      if (!name.empty()) {
        return CommandError{id, ErrorCode::kBadRequest, "more than one member besides id"};
      }
      name = key;
    }
    if (name.empty()) return CommandError{id, ErrorCode::kBadRequest, "no command"};
    if (!isCommandName(name)) {
      // Not echoed: the name came from the client and may be anything.
      return CommandError{id, ErrorCode::kUnknownCommand, "unknown command"};
    }
    const Var body = envelope->get(name);
    if (body.type() != typeid(Object::Ptr)) {
      return CommandError{id, ErrorCode::kBadRequest, name + ": not an object"};
    }
    const Fields fields(*body.extract<Object::Ptr>(), name);
    return Command{*id, parseBody(name, fields)};
  } catch (const FieldError& error) {
    return CommandError{id, ErrorCode::kBadRequest, error.message};
  } catch (const std::exception&) {
    return CommandError{id, ErrorCode::kBadRequest, "malformed command"};
  }
}

const char* commandName(const CommandBody& body) { return kCommandNames[body.index()]; }

}  // namespace heimdallr::v2
