#include "InMemBus.h"

#include <stdexcept>

#include "heimdallr/bus/Plugin.h"
#include "heimdallr/bus/Subject.h"

namespace heimdallr::bus {

InMemBus::~InMemBus() { stop(); }

void InMemBus::start(const std::string& /*nodeId*/, const Options& options) {
  for (const auto& [key, value] : options) {
    if (key != "max_pending")
      throw std::invalid_argument(key + ": unknown option of the inmem bus");
    size_t used = 0;
    long long parsed = -1;
    try {
      parsed = std::stoll(value, &used);
    } catch (const std::exception&) {
    }
    if (used != value.size() || parsed < 1 || parsed > 100000000) {
      throw std::invalid_argument(key + ": expected an integer in [1, 100000000], got \"" + value +
                                  "\"");
    }
    maxPending_ = static_cast<size_t>(parsed);
  }
  dispatcher_ = std::thread([this] { dispatchLoop(); });
}

// Any thread. O(1) under a short lock.
void InMemBus::publish(BusMessagePtr msg) {
  {
    std::lock_guard lock(queueMutex_);
    if (stopping_ || queue_.size() >= maxPending_) {
      ++dropped_;
      return;
    }
    ++published_;
    queue_.push_back({std::move(msg), PublishLatency::nowNs()});
  }
  queueReady_.notify_one();
}

SubscriptionId InMemBus::subscribe(const std::string& pattern, MessageHandler handler) {
  if (!isValidPattern(pattern)) throw std::invalid_argument("invalid subject pattern: " + pattern);
  std::lock_guard lock(subscriptionsMutex_);
  return subscriptions_.add(pattern, {}, std::move(handler));
}

void InMemBus::unsubscribe(SubscriptionId id) {
  std::lock_guard lock(subscriptionsMutex_);
  subscriptions_.remove(id);
}

BusStatus InMemBus::status() const { return BusStatus{true, {}}; }

BusCounters InMemBus::counters() const {
  BusCounters counters;
  {
    std::lock_guard lock(queueMutex_);
    counters.published = published_;
    counters.dropped = dropped_;
  }
  latency_.fill(counters);
  return counters;
}

void InMemBus::stop() {
  {
    std::lock_guard lock(queueMutex_);
    stopping_ = true;
  }
  queueReady_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
}

// Dispatch thread: drains the queue in batches so publishers contend for the lock once per batch.
void InMemBus::dispatchLoop() {
  std::deque<Queued> batch;
  for (;;) {
    {
      std::unique_lock lock(queueMutex_);
      queueReady_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      batch.swap(queue_);
    }
    for (const auto& queued : batch) {
      latency_.observe(queued.enqueuedNs);
      dispatch(queued.msg);
    }
    batch.clear();
  }
}

void InMemBus::dispatch(const BusMessagePtr& msg) {
  std::lock_guard lock(subscriptionsMutex_);
  const auto deliver = [&msg](const SubscriptionTable::Entry& entry) { entry.handler(msg); };
  subscriptions_.forEachExact(msg->subject, deliver);
  subscriptions_.forEachWildcard(msg->subject, deliver);
}

}  // namespace heimdallr::bus

HEIMDALLR_BUS_PLUGIN(heimdallr::bus::InMemBus)
