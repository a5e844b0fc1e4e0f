#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/PublishLatency.h"
#include "heimdallr/bus/SubscriptionTable.h"

namespace heimdallr::bus {

/// The single-process bus: every subscriber in this process sees every matching publish, in
/// publish order, delivered on one dispatch thread the bus owns. Thread-safe.
///
/// Options (config `bus.inmem.*`):
///   max_pending: messages queued for dispatch before publish() drops (default 100000).
class InMemBus : public Bus {
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

 private:
  struct Queued {
    BusMessagePtr msg;
    int64_t enqueuedNs;
  };

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

  std::thread dispatcher_;
};

}  // namespace heimdallr::bus
