#include "InMemBus.h"

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "heimdallr/bus/Plugin.h"
#include "heimdallr/bus/Subject.h"

namespace heimdallr::bus {

namespace {
int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

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
  enqueue({std::move(msg), PublishLatency::nowNs(), {}}, false);
}

// A task that comes after stop() runs at once on the caller's thread: no dispatcher is left,
// and every Storage callback runs exactly once.
bool InMemBus::enqueue(Queued queued, bool isTask) {
  bool runNow = false;
  {
    std::lock_guard lock(queueMutex_);
    const bool refused = stopping_ || (!isTask && queue_.size() >= maxPending_);
    if (!refused) {
      if (!isTask) ++published_;
      queue_.push_back(std::move(queued));
    } else if (isTask) {
      runNow = true;
    } else {
      ++dropped_;
      return false;
    }
  }
  if (runNow) {
    queued.task();
    return false;
  }
  queueReady_.notify_one();
  return true;
}

bool InMemBus::stopping() const {
  std::lock_guard lock(queueMutex_);
  return stopping_;
}

InMemBus::Stream& InMemBus::streamAt(const std::string& subject, int64_t nowMs, uint32_t metaTtlS) {
  Stream& stream = streams_[subject];
  if (!stream.epoch.empty() && nowMs >= stream.metaExpireMs) stream = Stream{};
  if (stream.epoch.empty()) {
    char epoch[17];
    std::snprintf(epoch, sizeof epoch, "%016llx", static_cast<unsigned long long>(epochs_()));
    stream.epoch = epoch;
    stream.metaExpireMs = nowMs + int64_t{metaTtlS} * 1000;
  }
  if (!stream.kept.empty() && nowMs >= stream.messagesExpireMs) stream.kept.clear();
  return stream;
}

// Any thread. The offset is assigned and the message queued for dispatch under one lock, so
// subscribers see a stream in offset order; `done` runs on the dispatch thread after it.
void InMemBus::append(BusMessagePtr msg, const StreamLimits& limits,
                      std::function<void(AppendResult)> done) {
  std::lock_guard storage(storageMutex_);
  const int64_t nowMs = steadyMs();
  Stream& stream = streamAt(msg->subject, nowMs, limits.metaTtlS);
  auto stored = std::make_shared<BusMessage>(*msg);
  stored->offset = stream.top + 1;
  stored->epoch = stream.epoch;
  AppendResult result;
  if (!enqueue({stored, PublishLatency::nowNs(), {}}, false)) {
    result.error = stopping() ? "bus stopped" : "bus overloaded: max_pending messages are queued";
  } else {
    stream.top = stored->offset;
    stream.kept.push_back(stored);
    while (stream.kept.size() > limits.size) stream.kept.pop_front();
    stream.messagesExpireMs = nowMs + int64_t{limits.ttlS} * 1000;
    stream.metaExpireMs = std::max(stream.metaExpireMs, nowMs + int64_t{limits.metaTtlS} * 1000);
    result.offset = stored->offset;
    result.epoch = stream.epoch;
  }
  enqueue({nullptr, 0, [done = std::move(done), result = std::move(result)] { done(result); }},
          true);
}

void InMemBus::read(const std::string& subject, const ReadRequest& request,
                    std::function<void(StreamRead)> done) {
  StreamRead result;
  if (stopping()) {
    result.error = "bus stopped";
  } else {
    std::lock_guard storage(storageMutex_);
    Stream& stream = streamAt(subject, steadyMs(), request.metaTtlS);
    result.epoch = stream.epoch;
    result.top = stream.top;
    result.oldest = stream.kept.empty() ? stream.top + 1 : stream.kept.front()->offset;
    std::vector<BusMessagePtr> after;
    for (const BusMessagePtr& msg : stream.kept) {
      if (msg->offset > request.after) after.push_back(msg);
    }
    const size_t count = std::min<size_t>(after.size(), request.limit);
    const auto first =
        request.newest ? after.end() - static_cast<std::ptrdiff_t>(count) : after.begin();
    result.messages.assign(first, first + static_cast<std::ptrdiff_t>(count));
  }
  enqueue({nullptr, 0, [done = std::move(done), result = std::move(result)] { done(result); }},
          true);
}

void InMemBus::presenceSet(const std::string& subject, const PresenceMember& member,
                           uint32_t ttlS) {
  std::lock_guard storage(storageMutex_);
  presence_[subject][member.client] = {member, steadyMs() + int64_t{ttlS} * 1000};
}

void InMemBus::presenceRemove(const std::string& subject, const std::string& client) {
  std::lock_guard storage(storageMutex_);
  auto it = presence_.find(subject);
  if (it == presence_.end()) return;
  it->second.erase(client);
  if (it->second.empty()) presence_.erase(it);
}

void InMemBus::presenceList(const std::string& subject, std::function<void(PresenceList)> done) {
  PresenceList result;
  if (stopping()) {
    result.error = "bus stopped";
  } else {
    std::lock_guard storage(storageMutex_);
    auto it = presence_.find(subject);
    if (it != presence_.end()) {
      const int64_t nowMs = steadyMs();
      for (auto entry = it->second.begin(); entry != it->second.end();) {
        if (nowMs >= entry->second.expiresMs) {
          entry = it->second.erase(entry);
        } else {
          result.members.push_back(entry->second.member);
          ++entry;
        }
      }
      if (it->second.empty()) presence_.erase(it);
    }
  }
  enqueue({nullptr, 0, [done = std::move(done), result = std::move(result)] { done(result); }},
          true);
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

// Storage callbacks still queued run here, on the caller's thread after the dispatcher has
// stopped: each callback runs exactly once, even at shutdown. Messages still queued are dropped.
void InMemBus::stop() {
  {
    std::lock_guard lock(queueMutex_);
    stopping_ = true;
  }
  queueReady_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  std::deque<Queued> left;
  {
    std::lock_guard lock(queueMutex_);
    left.swap(queue_);
  }
  for (const auto& queued : left) {
    if (queued.task) queued.task();
  }
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
      if (queued.task) {
        queued.task();
        continue;
      }
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
