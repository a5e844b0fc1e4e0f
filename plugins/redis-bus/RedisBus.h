#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ChannelNames.h"
#include "RedisConnection.h"
#include "RedisOptions.h"
#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/PublishLatency.h"
#include "heimdallr/bus/SubscriptionTable.h"

namespace heimdallr::bus {

/// The bus over Redis PubSub (hiredis async). Thread-safe: every Bus method only enqueues work
/// for the plugin's own thread, which is the only one that touches hiredis. One connection
/// publishes, one subscribes; exact subjects use SUBSCRIBE, wildcard patterns PSUBSCRIBE.
///
/// Delivery: each publish is sent once, in publish order, pipelined with the others queued in
/// the same pass. While Redis is away, publishes wait (up to max_pending_bytes) and go out on
/// reconnect; past the limit they are dropped and counted. A message whose connection died
/// before Redis acknowledged it is not resent (at most once: no duplicates after recovery).
class RedisBus : public Bus {
 public:
  RedisBus() = default;
  ~RedisBus() override;

  void start(const std::string& nodeId, const Options& options) override;
  void publish(BusMessagePtr msg) override;
  SubscriptionId subscribe(const std::string& pattern, MessageHandler handler) override;
  void unsubscribe(SubscriptionId id) override;
  BusStatus status() const override;
  BusCounters counters() const override;
  void stop() override;

 private:
  struct Queued {
    BusMessagePtr msg;
    int64_t enqueuedNs;
  };
  struct InFlight {
    size_t cost;
    int64_t enqueuedNs;
  };
  /// What Redis is subscribed to: a channel (SUBSCRIBE) or a glob (PSUBSCRIBE). Two bus patterns
  /// can map to one glob ("a.*" and "a.>" both to "<prefix>.a.*"), so interest is counted per
  /// Redis name, not per bus pattern.
  struct RedisName {
    bool glob;
    std::string name;
    auto operator<=>(const RedisName&) const = default;
  };
  struct Command {
    bool subscribe;
    RedisName target;
  };

  // Bus thread.
  void run();
  void drainQueues();
  void applyCommand(const Command& command);
  void sendInterest(const RedisName& target, bool subscribe);
  void flushOutbox();
  void onConnectionReady();
  void onConnectionLost(const std::string& reason);
  void scheduleReconnect();
  void connectBoth();
  void setStatus(bool up, const std::string& reason);
  void dispatch(std::string_view channel, std::string_view payload, const char* glob);
  static void onPublishReply(redisAsyncContext* context, void* reply, void* privdata);
  static void onSubscriptionReply(redisAsyncContext* context, void* reply, void* privdata);
  uint64_t nowMs() const;

  RedisOptions options_;
  std::unique_ptr<ChannelNames> names_;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  // Producer side (any thread), under queueMutex_.
  std::mutex queueMutex_;
  std::deque<Queued> outbox_;
  std::vector<Command> commands_;
  std::atomic<size_t> pendingBytes_{0};  // queued or sent but not yet acknowledged
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> reconnects_{0};
  PublishLatency latency_;  // written by the bus thread as Redis acknowledges

  // Subscriptions, read by the bus thread while dispatching. Recursive for the same reason as
  // the inmem bus: a handler that (against advice) calls back must not deadlock.
  mutable std::recursive_mutex subscriptionsMutex_;
  SubscriptionTable subscriptions_;  // entry key: the Redis name (channel or glob)

  // Bus thread only.
  std::unique_ptr<RedisConnection> publisher_;
  std::unique_ptr<RedisConnection> subscriber_;
  std::map<RedisName, int> interest_;  // live subscriptions per Redis name (Redis sees 0 <-> 1)
  std::deque<Queued> sending_;         // taken from outbox_, waiting for the publisher
  std::deque<InFlight> inFlight_;      // sent, in order; Redis replies (or the loss) pop them
  bool everUp_ = false;
  bool wasUp_ = false;
  bool reportedDown_ = false;
  int backoffStep_ = 0;
  uint64_t reconnectAtMs_ = 0;
  std::mt19937 jitter_{std::random_device{}()};

  mutable std::mutex statusMutex_;
  BusStatus status_{false, "connecting to redis"};
};

}  // namespace heimdallr::bus
