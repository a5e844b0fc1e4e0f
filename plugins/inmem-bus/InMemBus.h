#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>

#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/PublishLatency.h"
#include "heimdallr/bus/Storage.h"
#include "heimdallr/bus/SubscriptionTable.h"

namespace heimdallr::bus {

/// The single-process bus: every subscriber in this process sees every matching publish, in
/// publish order, delivered on one dispatch thread the bus owns. Thread-safe. Its Storage keeps
/// history and presence in the process (one node: presence is this node's members).
///
/// Options (config `bus.inmem.*`):
///   max_pending: messages queued for dispatch before publish() drops (default 100000).
class InMemBus : public Bus, private Storage {
 public:
  InMemBus() = default;
  ~InMemBus() override;

  void start(const std::string& nodeId, const Options& options) override;
  void publish(BusMessagePtr msg) override;
  SubscriptionId subscribe(const std::string& pattern, MessageHandler handler) override;
  void unsubscribe(SubscriptionId id) override;
  BusStatus status() const override;
  BusCounters counters() const override;
  void stop() override;
  Storage* storage() override { return this; }

 private:
  /// A message to dispatch, or a Storage callback to run on the dispatch thread.
  struct Queued {
    BusMessagePtr msg;
    int64_t enqueuedNs;
    std::function<void()> task;
  };
  struct Stream {
    std::string epoch;
    uint64_t top = 0;
    std::deque<BusMessagePtr> kept;  // the newest, oldest first
    int64_t messagesExpireMs = 0;    // steady clock; kept is cleared after it
    int64_t metaExpireMs = 0;        // the whole stream is forgotten after it
  };
  struct PresenceEntry {
    PresenceMember member;
    int64_t expiresMs;
  };

  // Storage; any thread.
  void append(BusMessagePtr msg, const StreamLimits& limits,
              std::function<void(AppendResult)> done) override;
  void read(const std::string& subject, const ReadRequest& request,
            std::function<void(StreamRead)> done) override;
  void presenceSet(const std::string& subject, const PresenceMember& member,
                   uint32_t ttlS) override;
  void presenceRemove(const std::string& subject, const std::string& client) override;
  void presenceList(const std::string& subject, std::function<void(PresenceList)> done) override;

  /// Queues a message (false when full or stopping) or a task (after stop: runs it at once).
  bool enqueue(Queued queued, bool isTask);
  bool stopping() const;
  /// The stream of `subject` as of `nowMs`, made (with a new epoch) when missing or expired.
  /// Caller holds storageMutex_.
  Stream& streamAt(const std::string& subject, int64_t nowMs, uint32_t metaTtlS);

  void dispatchLoop();
  void dispatch(const BusMessagePtr& msg);

  // Guards the queue only; publishers never wait on handlers.
  mutable std::mutex queueMutex_;
  std::condition_variable queueReady_;
  std::deque<Queued> queue_;
  bool stopping_ = false;
  size_t maxPending_ = 100000;
  uint64_t published_ = 0;  // guarded by queueMutex_
  uint64_t dropped_ = 0;    // guarded by queueMutex_
  PublishLatency latency_;  // written by the dispatch thread: enqueue to dispatch

  // Held while handlers run, so unsubscribe() returning means "no further calls". Recursive so
  // that a handler may (against advice) subscribe or unsubscribe without deadlocking.
  mutable std::recursive_mutex subscriptionsMutex_;
  SubscriptionTable subscriptions_;

  // Streams and presence. Taken before queueMutex_ when both are held, so that appends enter
  // the dispatch queue in offset order.
  std::mutex storageMutex_;
  std::unordered_map<std::string, Stream> streams_;
  std::unordered_map<std::string, std::map<std::string, PresenceEntry>> presence_;
  std::mt19937_64 epochs_{std::random_device{}()};

  std::thread dispatcher_;
};

}  // namespace heimdallr::bus
