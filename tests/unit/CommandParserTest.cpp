#include <gtest/gtest.h>

#include <string>

#include "v2/CommandParser.h"

using heimdallr::v2::Command;
using heimdallr::v2::CommandError;
using heimdallr::v2::ConnectCommand;
using heimdallr::v2::ErrorCode;
using heimdallr::v2::HistoryCommand;
using heimdallr::v2::JoinCommand;
using heimdallr::v2::LeaveCommand;
using heimdallr::v2::parseCommand;
using heimdallr::v2::PresenceCommand;
using heimdallr::v2::PublishCommand;
using heimdallr::v2::RefreshCommand;
using heimdallr::v2::StreamPosition;

namespace {

Command command(const std::string& frame) {
  auto result = parseCommand(frame);
  if (auto* error = std::get_if<CommandError>(&result)) {
    ADD_FAILURE() << frame << " -> " << error->message;
    return {};
  }
  return std::get<Command>(result);
}

CommandError error(const std::string& frame) {
  auto result = parseCommand(frame);
  if (!std::holds_alternative<CommandError>(result)) {
    ADD_FAILURE() << frame << " parsed as a command";
    return {};
  }
  return std::get<CommandError>(result);
}

}  // namespace

TEST(CommandParser, connect_with_token_name_or_neither) {
  const Command c = command(R"({"id":1,"connect":{"token":"a.b.c","name":"alice"}})");
  EXPECT_EQ(c.id, 1u);
  const auto& connect = std::get<ConnectCommand>(c.body);
  EXPECT_EQ(connect.token, "a.b.c");
  EXPECT_EQ(connect.name, "alice");
  const auto empty = std::get<ConnectCommand>(command(R"({"id":2,"connect":{}})").body);
  EXPECT_EQ(empty.token, "");
  EXPECT_EQ(empty.name, "");
  EXPECT_EQ(std::get<ConnectCommand>(command(R"({"id":2,"connect":{"token":null}})").body).token,
            "");
}

TEST(CommandParser, join_with_and_without_since) {
  const Command plain = command(R"({"id":2,"join":{"room":"42"}})");
  EXPECT_EQ(std::get<JoinCommand>(plain.body).room, "42");
  EXPECT_FALSE(std::get<JoinCommand>(plain.body).since);
  const Command since =
      command(R"({"id":3,"join":{"room":"team-a","since":{"offset":17,"epoch":"e1"}}})");
  EXPECT_EQ(std::get<JoinCommand>(since.body).since, (StreamPosition{17, "e1"}));
}

TEST(CommandParser, leave_presence_refresh) {
  EXPECT_EQ(std::get<LeaveCommand>(command(R"({"id":3,"leave":{"room":"42"}})").body).room, "42");
  EXPECT_EQ(std::get<PresenceCommand>(command(R"({"id":5,"presence":{"room":"r"}})").body).room,
            "r");
  EXPECT_EQ(std::get<RefreshCommand>(command(R"({"id":7,"refresh":{"token":"t"}})").body).token,
            "t");
}

TEST(CommandParser, publish_keeps_any_json_value_compactly) {
  const auto data = [](const std::string& value) {
    return std::get<PublishCommand>(
               command(R"({"id":4,"publish":{"room":"42","data":)" + value + "}}").body)
        .dataJson;
  };
  EXPECT_EQ(data(R"( { "text" : "hi", "n" : [1, 2.5, true, null] } )"),
            R"({"n":[1,2.5,true,null],"text":"hi"})");
  EXPECT_EQ(data(R"("plain text")"), R"("plain text")");
  EXPECT_EQ(data("null"), "null");
  EXPECT_EQ(data("-3"), "-3");
  EXPECT_EQ(data(R"("caf\u00e9 \"q\" \\ \n")"), "\"caf\xc3\xa9 \\\"q\\\" \\\\ \\n\"");
}

TEST(CommandParser, history_with_since_and_limit) {
  const auto history = std::get<HistoryCommand>(
      command(R"({"id":6,"history":{"room":"42","since":{"offset":0,"epoch":"x"},"limit":100}})")
          .body);
  EXPECT_EQ(history.room, "42");
  EXPECT_EQ(history.since, (StreamPosition{0, "x"}));
  EXPECT_EQ(history.limit, 100u);
  EXPECT_FALSE(std::get<HistoryCommand>(command(R"({"id":6,"history":{"room":"42"}})").body).limit);
}

TEST(CommandParser, ids_are_unsigned_integers_up_to_2_pow_64_minus_1) {
  EXPECT_EQ(command(R"({"id":0,"leave":{"room":"a"}})").id, 0u);
  EXPECT_EQ(command(R"({"id":18446744073709551615,"leave":{"room":"a"}})").id,
            18446744073709551615u);
  for (const char* id : {"-1", "1.5", "1e3", "\"1\"", "true", "null", "[1]"}) {
    const CommandError e = error(std::string(R"({"id":)") + id + R"(,"leave":{"room":"a"}})");
    EXPECT_FALSE(e.id) << id;
    EXPECT_EQ(e.code, ErrorCode::kBadRequest) << id;
  }
}

TEST(CommandParser, frames_without_a_readable_id_have_no_id) {
  for (const char* frame : {"", "not json", "[1,2]", "\"x\"", "{", R"({"leave":{"room":"a"}})",
                            R"({"id":1,"leave":{"room":"a"}} trailing)"}) {
    EXPECT_FALSE(error(frame).id) << frame;
  }
}

TEST(CommandParser, an_unknown_command_is_404_and_not_echoed) {
  const CommandError e = error(R"({"id":9,"<script>":{}})");
  EXPECT_EQ(e.id, 9u);
  EXPECT_EQ(e.code, ErrorCode::kUnknownCommand);
  EXPECT_EQ(e.message.find("script"), std::string::npos);
}

TEST(CommandParser, exactly_one_command_per_frame) {
  EXPECT_EQ(error(R"({"id":1})").message, "no command");
  const CommandError two = error(R"({"id":1,"join":{"room":"a"},"leave":{"room":"a"}})");
  EXPECT_EQ(two.id, 1u);
  EXPECT_EQ(two.code, ErrorCode::kBadRequest);
}

TEST(CommandParser, field_errors_keep_the_id_and_name_the_field) {
  const struct {
    const char* frame;
    const char* message;
  } cases[] = {
      {R"({"id":1,"join":"42"})", "join: not an object"},
      {R"({"id":1,"join":{}})", "join.room: missing"},
      {R"({"id":1,"join":{"room":7}})", "join.room: not a string"},
      {R"({"id":1,"join":{"room":"a b"}})",
       "join.room: not a room id (1 to 64 of A-Z a-z 0-9 _ -)"},
      {R"({"id":1,"join":{"room":"a","since":5}})", "join.since: not an object"},
      {R"({"id":1,"join":{"room":"a","since":{"epoch":"e"}}})", "join.since.offset: missing"},
      {R"({"id":1,"join":{"room":"a","since":{"offset":-1,"epoch":"e"}}})",
       "join.since.offset: not an unsigned integer"},
      {R"({"id":1,"join":{"room":"a","since":{"offset":1}}})", "join.since.epoch: missing"},
      {R"({"id":1,"publish":{"room":"a"}})", "publish.data: missing"},
      {R"({"id":1,"history":{"room":"a","limit":"10"}})", "history.limit: not an unsigned integer"},
      {R"({"id":1,"refresh":{}})", "refresh.token: missing"},
      {R"({"id":1,"connect":{"name":5}})", "connect.name: not a string"},
  };
  for (const auto& c : cases) {
    const CommandError e = error(c.frame);
    EXPECT_EQ(e.id, 1u) << c.frame;
    EXPECT_EQ(e.code, ErrorCode::kBadRequest) << c.frame;
    EXPECT_EQ(e.message, c.message) << c.frame;
  }
}

TEST(CommandParser, bounds_on_name_epoch_and_depth) {
  EXPECT_EQ(error(R"({"id":1,"connect":{"name":")" + std::string(257, 'n') + R"("}})").message,
            "connect.name: longer than 256 bytes");
  command(R"({"id":1,"connect":{"name":")" + std::string(256, 'n') + R"("}})");
  EXPECT_EQ(error(R"({"id":1,"join":{"room":"a","since":{"offset":1,"epoch":")" +
                  std::string(65, 'e') + R"("}}})")
                .message,
            "join.since.epoch: longer than 64 bytes");
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  EXPECT_FALSE(error(R"({"id":1,"publish":{"room":"a","data":)" + deep + "}}").id);
}

TEST(CommandParser, unknown_members_of_a_command_are_ignored_and_later_duplicates_win) {
  const Command c = command(R"({"id":1,"id":2,"join":{"room":"a","room":"b","future":1}})");
  EXPECT_EQ(c.id, 2u);
  EXPECT_EQ(std::get<JoinCommand>(c.body).room, "b");
}
