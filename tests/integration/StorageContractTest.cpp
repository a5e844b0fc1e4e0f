// The history and presence every bus plugin with Storage must provide (Storage.h), run against
// each plugin through the public API as the host loads it (BusLoader): inmem, and redis against
// a real redis-server. A plugin without Storage is skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "bus/BusLoader.h"
#include "heimdallr/bus/Storage.h"
#include "support/BusInbox.h"
#include "support/RedisServer.h"

namespace heimdallr::bus {

namespace {
using namespace std::chrono_literals;

/// Collects the answers to storage requests. Shared with the callbacks, so a late callback
/// never outlives it. Thread-safe.
template <class Result>
class Answers {
 public:
  std::function<void(Result)> callback() {
    return [state = state_](Result result) {
      std::lock_guard lock(state->mutex);
      state->results.push_back(std::move(result));
      state->changed.notify_all();
    };
  }
  bool waitFor(size_t count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, timeout, [&] { return state_->results.size() >= count; });
  }
  std::vector<Result> results() const {
    std::lock_guard lock(state_->mutex);
    return state_->results;
  }
  size_t size() const {
    std::lock_guard lock(state_->mutex);
    return state_->results.size();
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<Result> results;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

BusMessagePtr storedMessage(const std::string& subject, const std::string& payload,
                            const std::string& client = "client-1",
                            const std::string& user = "alice") {
  auto msg = std::make_shared<BusMessage>(*test::busMessage(subject, payload));
  msg->flags = BusMessage::kFlagJson;
  msg->senderClient = client;
  msg->senderUser = user;
  return msg;
}

const StreamLimits kLimits{100, 60, 300};

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}
}  // namespace

class StorageContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "redis") {
      if (!test::RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
      redis_ = std::make_unique<test::RedisServer>();
    }
    loader_ = std::make_unique<BusLoader>(GetParam(), HEIMDALLR_PLUGIN_DIR);
    Options options;
    if (redis_) options = {{"port", std::to_string(redis_->port())}, {"host", "127.0.0.1"}};
    bus().start("node-a", options);
    if (bus().storage() == nullptr) {
      GTEST_SKIP() << "the " << GetParam() << " plugin has no Storage (Bus::storage() is null)";
    }
    ASSERT_TRUE(waitUntil([&] { return bus().status().up; }, 5s)) << bus().status().reason;
  }

  /// Every request a test made got exactly one answer: checked once the bus has stopped, when
  /// no further callback can come.
  void TearDown() override {
    if (!loader_) return;
    bus().stop();
    for (const auto& [what, expected, count] : answerCounts_) {
      EXPECT_EQ(expected, count()) << what << ": not answered exactly once each";
    }
  }

  Bus& bus() { return loader_->bus(); }
  Storage& storage() { return *bus().storage(); }

  AppendResult append(const BusMessagePtr& msg, const StreamLimits& limits = kLimits) {
    Answers<AppendResult> answers;
    watch("append to " + msg->subject, answers);
    storage().append(msg, limits, answers.callback());
    EXPECT_TRUE(answers.waitFor(1)) << "append was never answered";
    return answers.size() > 0 ? answers.results()[0] : AppendResult{"no answer", 0, ""};
  }

  StreamRead read(const std::string& subject, const ReadRequest& request) {
    Answers<StreamRead> answers;
    watch("read of " + subject, answers);
    storage().read(subject, request, answers.callback());
    EXPECT_TRUE(answers.waitFor(1)) << "read was never answered";
    if (answers.size() == 0) return StreamRead{"no answer", "", 0, 1, {}};
    return answers.results()[0];
  }

  PresenceList presence(const std::string& subject) {
    Answers<PresenceList> answers;
    watch("presence list of " + subject, answers);
    storage().presenceList(subject, answers.callback());
    EXPECT_TRUE(answers.waitFor(1)) << "presenceList was never answered";
    return answers.size() > 0 ? answers.results()[0] : PresenceList{"no answer", {}};
  }

  std::set<std::string> presentClients(const std::string& subject) {
    std::set<std::string> clients;
    for (const auto& member : presence(subject).members) clients.insert(member.client);
    return clients;
  }

  /// TearDown checks that `answers` got exactly `expected` answers.
  template <class Result>
  void watch(const std::string& what, const Answers<Result>& answers, size_t expected = 1) {
    answerCounts_.emplace_back(what, expected, [answers] { return answers.size(); });
  }

  /// Returns once every subscription made so far is in effect (see BusContract).
  void barrier() {
    test::BusInbox probe;
    const std::string subject = "barrier." + std::to_string(++barriers_);
    const auto id = bus().subscribe(subject, probe.handler());
    for (int i = 0; i < 100; ++i) {
      bus().publish(test::busMessage(subject, "p"));
      if (probe.waitFor(1, 50ms)) break;
    }
    ASSERT_TRUE(probe.waitFor(1, 0ms)) << "subscriptions never took effect";
    bus().unsubscribe(id);
  }

  static std::vector<uint64_t> offsetsOf(const StreamRead& read) {
    std::vector<uint64_t> offsets;
    for (const auto& msg : read.messages) offsets.push_back(msg->offset);
    return offsets;
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<BusLoader> loader_;
  std::vector<std::tuple<std::string, size_t, std::function<size_t()>>> answerCounts_;
  int barriers_ = 0;
};

TEST_P(StorageContract, offsets_count_from_one_per_subject_under_a_stable_epoch) {
  std::vector<AppendResult> a, b;
  for (int i = 0; i < 3; ++i) a.push_back(append(storedMessage("room.a", "a" + std::to_string(i))));
  for (int i = 0; i < 2; ++i) b.push_back(append(storedMessage("room.b", "b" + std::to_string(i))));
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ("", a[i].error);
    EXPECT_EQ(i + 1, a[i].offset);
    EXPECT_FALSE(a[i].epoch.empty());
    EXPECT_EQ(a[0].epoch, a[i].epoch);
  }
  for (size_t i = 0; i < b.size(); ++i) {
    ASSERT_EQ("", b[i].error);
    EXPECT_EQ(i + 1, b[i].offset);
    EXPECT_EQ(b[0].epoch, b[i].epoch);
  }
}

TEST_P(StorageContract, subscribers_receive_stored_messages_with_offset_epoch_and_sender) {
  test::BusInbox inbox;
  bus().subscribe("room.s", inbox.handler());
  barrier();
  auto join =
      std::make_shared<BusMessage>(*storedMessage("room.s", R"({"user":"bob"})", "c2", "bob"));
  join->kind = MessageKind::kJoin;
  const AppendResult first = append(storedMessage("room.s", std::string("hi\0there", 8)));
  const AppendResult second = append(join);
  const AppendResult third = append(storedMessage("room.s", "anonymous", "c3", ""));
  ASSERT_TRUE(inbox.waitFor(3));
  const auto messages = inbox.messages();
  ASSERT_EQ(3u, messages.size());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ("room.s", messages[i]->subject);
    EXPECT_EQ(i + 1, messages[i]->offset);
    EXPECT_EQ(first.epoch, messages[i]->epoch);
    EXPECT_EQ("node-a", messages[i]->origin);
    EXPECT_EQ(BusMessage::kFlagJson, messages[i]->flags);
    EXPECT_EQ(1234567890123, messages[i]->originTimeNs);
  }
  EXPECT_EQ(std::string("hi\0there", 8), messages[0]->payload);
  EXPECT_EQ(MessageKind::kMessage, messages[0]->kind);
  EXPECT_EQ("client-1", messages[0]->senderClient);
  EXPECT_EQ("alice", messages[0]->senderUser);
  EXPECT_EQ(MessageKind::kJoin, messages[1]->kind);
  EXPECT_EQ("c2", messages[1]->senderClient);
  EXPECT_EQ("bob", messages[1]->senderUser);
  EXPECT_EQ(R"({"user":"bob"})", messages[1]->payload);
  EXPECT_EQ("c3", messages[2]->senderClient);
  EXPECT_EQ("", messages[2]->senderUser);
  EXPECT_EQ(2u, second.offset);
  EXPECT_EQ(3u, third.offset);
}

TEST_P(StorageContract, concurrent_appends_get_each_offset_once_and_arrive_in_offset_order) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  constexpr size_t kTotal = kThreads * kPerThread;
  test::BusInbox inbox;
  bus().subscribe("room.busy", inbox.handler());
  barrier();
  Answers<AppendResult> answers;
  watch("concurrent appends", answers, kTotal);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        storage().append(storedMessage("room.busy", std::to_string(t) + ":" + std::to_string(i),
                                       "client-" + std::to_string(t)),
                         {10000, 60, 300}, answers.callback());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(answers.waitFor(kTotal, 30s)) << answers.size() << " answers";
  ASSERT_TRUE(inbox.waitFor(kTotal, 30s)) << inbox.size() << " delivered";

  std::vector<uint64_t> offsets;
  std::set<std::string> epochs;
  for (const auto& result : answers.results()) {
    ASSERT_EQ("", result.error);
    offsets.push_back(result.offset);
    epochs.insert(result.epoch);
  }
  std::sort(offsets.begin(), offsets.end());
  for (size_t i = 0; i < kTotal; ++i) ASSERT_EQ(i + 1, offsets[i]) << "offsets not 1.." << kTotal;
  EXPECT_EQ(1u, epochs.size());

  // Delivered: each offset once, in offset order, each publisher's messages in its order.
  const auto messages = inbox.messages();
  ASSERT_EQ(kTotal, messages.size());
  std::vector<int> nextOf(kThreads, 0);
  for (size_t i = 0; i < kTotal; ++i) {
    ASSERT_EQ(i + 1, messages[i]->offset) << "delivered out of offset order";
    EXPECT_EQ(*epochs.begin(), messages[i]->epoch);
    const auto& payload = messages[i]->payload;
    const int t = std::stoi(payload.substr(0, payload.find(':')));
    ASSERT_EQ(std::to_string(t) + ":" + std::to_string(nextOf[t]), payload);
    EXPECT_EQ("client-" + std::to_string(t), messages[i]->senderClient);
    ++nextOf[t];
  }
  // Re-read from the stream: the same, contiguous.
  const StreamRead all = read("room.busy", {0, kTotal + 10, false, 300});
  ASSERT_EQ("", all.error);
  EXPECT_EQ(kTotal, all.top);
  EXPECT_EQ(1u, all.oldest);
  ASSERT_EQ(kTotal, all.messages.size());
  for (size_t i = 0; i < kTotal; ++i) ASSERT_EQ(messages[i]->payload, all.messages[i]->payload);
}

TEST_P(StorageContract, read_returns_the_messages_after_an_offset_oldest_or_newest_first) {
  std::string epoch;
  for (int i = 1; i <= 10; ++i) {
    epoch = append(storedMessage("room.r", "m" + std::to_string(i), "c" + std::to_string(i))).epoch;
  }
  const StreamRead head = read("room.r", {0, 3, false, 300});
  ASSERT_EQ("", head.error);
  EXPECT_EQ(epoch, head.epoch);
  EXPECT_EQ(10u, head.top);
  EXPECT_EQ(1u, head.oldest);
  EXPECT_EQ((std::vector<uint64_t>{1, 2, 3}), offsetsOf(head));
  ASSERT_EQ(3u, head.messages.size());
  EXPECT_EQ("m1", head.messages[0]->payload);
  EXPECT_EQ("room.r", head.messages[0]->subject);
  EXPECT_EQ(epoch, head.messages[0]->epoch);
  EXPECT_EQ("c1", head.messages[0]->senderClient);
  EXPECT_EQ("alice", head.messages[0]->senderUser);
  EXPECT_EQ("node-a", head.messages[0]->origin);
  EXPECT_EQ(BusMessage::kFlagJson, head.messages[0]->flags);

  EXPECT_EQ((std::vector<uint64_t>{6, 7, 8}), offsetsOf(read("room.r", {5, 3, false, 300})));
  EXPECT_EQ((std::vector<uint64_t>{9, 10}), offsetsOf(read("room.r", {8, 10, false, 300})));
  EXPECT_TRUE(read("room.r", {10, 10, false, 300}).messages.empty());
  EXPECT_TRUE(read("room.r", {50, 10, false, 300}).messages.empty());
  // newest: the last `limit` of those after `after`, still oldest first.
  EXPECT_EQ((std::vector<uint64_t>{8, 9, 10}), offsetsOf(read("room.r", {0, 3, true, 300})));
  EXPECT_EQ((std::vector<uint64_t>{9, 10}), offsetsOf(read("room.r", {8, 5, true, 300})));
  const StreamRead all = read("room.r", {0, 100, true, 300});
  EXPECT_EQ(10u, all.messages.size());
  EXPECT_EQ("m10", all.messages.back()->payload);
}

TEST_P(StorageContract, read_with_limit_zero_reports_the_state_only) {
  const AppendResult last = [&] {
    append(storedMessage("room.z", "1"));
    return append(storedMessage("room.z", "2"));
  }();
  for (bool newest : {false, true}) {
    const StreamRead state = read("room.z", {0, 0, newest, 300});
    ASSERT_EQ("", state.error);
    EXPECT_TRUE(state.messages.empty());
    EXPECT_EQ(2u, state.top);
    EXPECT_EQ(1u, state.oldest);
    EXPECT_EQ(last.epoch, state.epoch);
  }
}

TEST_P(StorageContract, trimming_by_size_keeps_the_newest_and_moves_the_oldest_offset) {
  for (int i = 1; i <= 8; ++i)
    append(storedMessage("room.t", "m" + std::to_string(i)), {5, 60, 300});
  const StreamRead kept = read("room.t", {0, 100, false, 300});
  ASSERT_EQ("", kept.error);
  EXPECT_EQ(8u, kept.top);
  EXPECT_EQ(4u, kept.oldest);
  EXPECT_EQ((std::vector<uint64_t>{4, 5, 6, 7, 8}), offsetsOf(kept));
  EXPECT_EQ("m4", kept.messages.at(0)->payload);
  // Asking for what was trimmed gives what is kept after it.
  EXPECT_EQ((std::vector<uint64_t>{4, 5}), offsetsOf(read("room.t", {1, 2, false, 300})));
}

TEST_P(StorageContract, reading_a_new_stream_creates_the_epoch_the_next_append_keeps) {
  const StreamRead empty = read("room.new", {0, 10, false, 300});
  ASSERT_EQ("", empty.error);
  EXPECT_FALSE(empty.epoch.empty());
  EXPECT_EQ(0u, empty.top);
  EXPECT_EQ(1u, empty.oldest);
  EXPECT_TRUE(empty.messages.empty());
  EXPECT_EQ(empty.epoch, read("room.new", {0, 0, false, 300}).epoch) << "a second read keeps it";

  const AppendResult first = append(storedMessage("room.new", "first"));
  ASSERT_EQ("", first.error);
  EXPECT_EQ(1u, first.offset);
  EXPECT_EQ(empty.epoch, first.epoch);
  const StreamRead after = read("room.new", {0, 10, false, 300});
  EXPECT_EQ(empty.epoch, after.epoch);
  EXPECT_EQ(1u, after.top);
  EXPECT_EQ((std::vector<uint64_t>{1}), offsetsOf(after));
}

TEST_P(StorageContract, presence_lists_the_members_set_and_forgets_removed_ones) {
  const PresenceMember alice{"c-alice", "alice", R"({"name":"Alice"})", "node-a"};
  const PresenceMember bob{"c-bob", "bob", "", "node-b"};
  storage().presenceSet("room.p", alice, 60);
  storage().presenceSet("room.p", bob, 60);
  storage().presenceSet("room.other", {"c-carol", "carol", "", "node-a"}, 60);
  ASSERT_TRUE(waitUntil([&] { return presentClients("room.p").size() == 2; }, 5s));
  const PresenceList list = presence("room.p");
  ASSERT_EQ("", list.error);
  ASSERT_EQ(2u, list.members.size());
  for (const auto& member : list.members) {
    const PresenceMember& expected = member.client == "c-alice" ? alice : bob;
    EXPECT_EQ(expected.client, member.client);
    EXPECT_EQ(expected.user, member.user);
    EXPECT_EQ(expected.info, member.info);
    EXPECT_EQ(expected.node, member.node);
  }
  // Setting again refreshes, it does not duplicate.
  storage().presenceSet("room.p", alice, 60);
  storage().presenceRemove("room.p", "c-bob");
  ASSERT_TRUE(waitUntil([&] { return presentClients("room.p").size() == 1; }, 5s));
  EXPECT_EQ((std::set<std::string>{"c-alice"}), presentClients("room.p"));
  EXPECT_EQ((std::set<std::string>{"c-carol"}), presentClients("room.other"));
  EXPECT_TRUE(presence("room.nobody").members.empty());
  EXPECT_EQ("", presence("room.nobody").error);
}

TEST_P(StorageContract, presence_members_expire_after_their_ttl_unless_refreshed) {
  storage().presenceSet("room.e", {"c-short", "u1", "", "node-a"}, 1);
  storage().presenceSet("room.e", {"c-long", "u2", "", "node-a"}, 60);
  ASSERT_TRUE(waitUntil([&] { return presentClients("room.e").size() == 2; }, 5s));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitUntil([&] { return presentClients("room.e").count("c-short") == 0; }, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 500ms) << "expired too early";
  EXPECT_EQ((std::set<std::string>{"c-long"}), presentClients("room.e"));
}

TEST_P(StorageContract, every_request_is_answered_once_also_when_the_bus_stops) {
  Answers<AppendResult> appends;
  Answers<StreamRead> reads;
  Answers<PresenceList> lists;
  constexpr size_t kEach = 200;
  watch("appends in flight at stop", appends, kEach);
  watch("reads in flight at stop", reads, kEach);
  watch("presence lists in flight at stop", lists, kEach);
  for (size_t i = 0; i < kEach; ++i) {
    storage().append(storedMessage("room.stop", std::to_string(i)), kLimits, appends.callback());
    storage().read("room.stop", {0, 5, false, 300}, reads.callback());
    storage().presenceList("room.stop", lists.callback());
  }
  bus().stop();
  EXPECT_EQ(kEach, appends.size()) << "stop() returned before answering every append";
  EXPECT_EQ(kEach, reads.size());
  EXPECT_EQ(kEach, lists.size());
  for (const auto& result : appends.results()) {
    if (!result.error.empty()) {
      EXPECT_EQ(0u, result.offset);
    }
  }
}

TEST_P(StorageContract, a_request_after_stop_is_answered_once_with_an_error) {
  bus().stop();
  Answers<AppendResult> append;
  Answers<StreamRead> read;
  Answers<PresenceList> list;
  watch("append after stop", append);
  watch("read after stop", read);
  watch("presence list after stop", list);
  storage().append(storedMessage("room.stop", "late"), kLimits, append.callback());
  storage().read("room.stop", {0, 5, false, 300}, read.callback());
  storage().presenceList("room.stop", list.callback());
  storage().presenceSet("room.stop", {"c1", "u1", "", "node-a"}, 60);  // must not crash
  ASSERT_TRUE(append.waitFor(1, 2s));
  ASSERT_TRUE(read.waitFor(1, 2s));
  ASSERT_TRUE(list.waitFor(1, 2s));
  EXPECT_NE("", append.results()[0].error);
  EXPECT_EQ(0u, append.results()[0].offset);
  EXPECT_NE("", read.results()[0].error);
  EXPECT_NE("", list.results()[0].error);
}

INSTANTIATE_TEST_SUITE_P(Plugins, StorageContract, ::testing::Values("inmem", "redis"),
                         [](const auto& info) { return info.param; });

}  // namespace heimdallr::bus
