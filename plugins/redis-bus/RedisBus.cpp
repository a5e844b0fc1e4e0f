#include "RedisBus.h"

#include <Poco/Logger.h>
#include <hiredis/hiredis.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>

#include "heimdallr/bus/Envelope.h"
#include "heimdallr/bus/Plugin.h"
#include "heimdallr/bus/Subject.h"

namespace heimdallr::bus {

namespace {
constexpr uint64_t kMaxBackoffMs = 1000;  // Redis back => cross-node delivery within ~1.3 s
constexpr uint64_t kFirstBackoffMs = 50;
constexpr int kMaxEvents = 16;
constexpr size_t kPerMessageOverhead = 64;  // envelope, channel and RESP framing, roughly

Poco::Logger& logger() { return Poco::Logger::get("heimdallr.bus.redis"); }

size_t costOf(const BusMessage& msg) {
  return msg.payload.size() + msg.subject.size() + msg.origin.size() + kPerMessageOverhead;
}
}  // namespace

RedisBus::~RedisBus() { stop(); }

void RedisBus::start(const std::string& /*nodeId*/, const Options& options) {
  options_ = RedisOptions::parse(options);
  names_ = std::make_unique<ChannelNames>(options_.channelPrefix);
  epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epollFd_ < 0 || wakeFd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &ev);
  publisher_ = std::make_unique<RedisConnection>(
      epollFd_, this, [this] { onConnectionReady(); },
      [this](const std::string& reason) { onConnectionLost(reason); });
  subscriber_ = std::make_unique<RedisConnection>(
      epollFd_, this, [this] { onConnectionReady(); },
      [this](const std::string& reason) { onConnectionLost(reason); });
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

// Any thread: never blocks on Redis. Past max_pending_bytes the message is dropped and counted.
void RedisBus::publish(BusMessagePtr msg) {
  if (!started_ || stopping_.load()) return;
  const size_t cost = costOf(*msg);
  {
    std::lock_guard lock(queueMutex_);
    if (pendingBytes_.load() + cost > options_.maxPendingBytes) {
      dropped_.fetch_add(1);
      return;
    }
    pendingBytes_.fetch_add(cost);
    published_.fetch_add(1, std::memory_order_relaxed);
    outbox_.push_back({std::move(msg), PublishLatency::nowNs()});
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(wakeFd_, &one, sizeof one);
}

SubscriptionId RedisBus::subscribe(const std::string& pattern, MessageHandler handler) {
  if (!isValidPattern(pattern)) throw std::invalid_argument("invalid subject pattern: " + pattern);
  const bool glob = !isLiteralPattern(pattern);
  RedisName target{glob, glob ? names_->glob(pattern) : names_->channel(pattern)};
  SubscriptionId id;
  {
    std::lock_guard lock(subscriptionsMutex_);
    id = subscriptions_.add(pattern, target.name, std::move(handler));
  }
  {
    std::lock_guard lock(queueMutex_);
    commands_.push_back({true, std::move(target)});
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(wakeFd_, &one, sizeof one);
  return id;
}

// Removes the handler at once (no call after this returns) and lets the bus thread tell Redis.
void RedisBus::unsubscribe(SubscriptionId id) {
  std::optional<SubscriptionTable::Entry> removed;
  {
    std::lock_guard lock(subscriptionsMutex_);
    removed = subscriptions_.remove(id);
  }
  if (!removed) return;
  {
    std::lock_guard lock(queueMutex_);
    commands_.push_back({false, {!isLiteralPattern(removed->pattern), std::move(removed->key)}});
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(wakeFd_, &one, sizeof one);
}

BusCounters RedisBus::counters() const {
  BusCounters counters;
  counters.published = published_.load(std::memory_order_relaxed);
  counters.dropped = dropped_.load(std::memory_order_relaxed);
  counters.reconnects = reconnects_.load(std::memory_order_relaxed);
  counters.pendingBytes = pendingBytes_.load(std::memory_order_relaxed);
  latency_.fill(counters);
  return counters;
}

BusStatus RedisBus::status() const {
  std::lock_guard lock(statusMutex_);
  return status_;
}

void RedisBus::stop() {
  if (!started_) return;
  if (!stopping_.exchange(true)) {
    const uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(wakeFd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (wakeFd_ >= 0) ::close(wakeFd_);
  if (epollFd_ >= 0) ::close(epollFd_);
  wakeFd_ = epollFd_ = -1;
  started_ = false;
}

uint64_t RedisBus::nowMs() const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// --- Bus thread -------------------------------------------------------------------------------

void RedisBus::run() {
  connectBoth();
  epoll_event events[kMaxEvents];
  while (!stopping_.load()) {
    uint64_t next = reconnectAtMs_;
    for (uint64_t deadline : {publisher_->connectDeadlineMs(), subscriber_->connectDeadlineMs()}) {
      if (deadline != 0 && (next == 0 || deadline < next)) next = deadline;
    }
    const uint64_t now = nowMs();
    int timeout = -1;
    if (next != 0) timeout = next > now ? static_cast<int>(next - now) : 0;
    const int n = ::epoll_wait(epollFd_, events, kMaxEvents, timeout);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        uint64_t count;
        [[maybe_unused]] auto ignored = ::read(wakeFd_, &count, sizeof count);
        continue;
      }
      static_cast<RedisConnection*>(events[i].data.ptr)->onEpollEvent(events[i].events);
    }
    drainQueues();
    flushOutbox();
    const uint64_t later = nowMs();
    publisher_->checkTimeout(later);
    subscriber_->checkTimeout(later);
    if (reconnectAtMs_ != 0 && later >= reconnectAtMs_) {
      reconnectAtMs_ = 0;
      connectBoth();
    }
  }
  publisher_->close();
  subscriber_->close();
}

void RedisBus::drainQueues() {
  std::vector<Command> commands;
  {
    std::lock_guard lock(queueMutex_);
    commands.swap(commands_);
    while (!outbox_.empty()) {
      sending_.push_back(std::move(outbox_.front()));
      outbox_.pop_front();
    }
  }
  for (const auto& command : commands) applyCommand(command);
}

// Interest counting: Redis hears about a channel or glob on its first subscription and its last
// unsubscription only.
void RedisBus::applyCommand(const Command& command) {
  if (command.subscribe) {
    if (++interest_[command.target] == 1) sendInterest(command.target, true);
    return;
  }
  auto it = interest_.find(command.target);
  if (it == interest_.end()) return;
  if (--it->second == 0) {
    interest_.erase(it);
    sendInterest(command.target, false);
  }
}

void RedisBus::sendInterest(const RedisName& target, bool subscribe) {
  if (!subscriber_->ready()) return;  // resubscribed wholesale on reconnect
  const char* command = target.glob ? (subscribe ? "PSUBSCRIBE %b" : "PUNSUBSCRIBE %b")
                                    : (subscribe ? "SUBSCRIBE %b" : "UNSUBSCRIBE %b");
  redisAsyncCommand(subscriber_->context(), &RedisBus::onSubscriptionReply, this, command,
                    target.name.data(), target.name.size());
}

// Everything queued since the last pass goes into hiredis's output buffer now and leaves in one
// write when the socket is writable: pipelining comes from batching, not from waiting.
void RedisBus::flushOutbox() {
  if (!publisher_->ready()) return;
  redisAsyncContext* context = publisher_->context();
  while (!sending_.empty()) {
    const BusMessage& msg = *sending_.front().msg;
    const std::string channel = names_->channel(msg.subject);
    const std::string envelope = encodeEnvelope(msg);
    if (redisAsyncCommand(context, &RedisBus::onPublishReply, nullptr, "PUBLISH %b %b",
                          channel.data(), channel.size(), envelope.data(),
                          envelope.size()) != REDIS_OK) {
      break;  // the context is going away; the message waits for the next connection
    }
    inFlight_.push_back({costOf(msg), sending_.front().enqueuedNs});
    sending_.pop_front();
  }
}

// Called for every PUBLISH, in the order they were sent: acknowledged (a reply) or lost with
// its connection (null reply, when hiredis frees the context).
void RedisBus::onPublishReply(redisAsyncContext* context, void* reply, void*) {
  auto* connection = static_cast<RedisConnection*>(context->data);
  if (connection == nullptr) return;
  auto* self = static_cast<RedisBus*>(connection->owner());
  if (self->inFlight_.empty()) return;
  const InFlight done = self->inFlight_.front();
  self->inFlight_.pop_front();
  self->pendingBytes_.fetch_sub(done.cost);
  auto* r = static_cast<redisReply*>(reply);
  if (r != nullptr && r->type != REDIS_REPLY_ERROR) self->latency_.observe(done.enqueuedNs);
}

void RedisBus::onSubscriptionReply(redisAsyncContext*, void* reply, void* privdata) {
  auto* self = static_cast<RedisBus*>(privdata);
  auto* r = static_cast<redisReply*>(reply);
  if (self == nullptr || r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  const std::string_view kind(r->element[0]->str, r->element[0]->len);
  if (kind == "message" && r->elements == 3) {
    self->dispatch({r->element[1]->str, r->element[1]->len},
                   {r->element[2]->str, r->element[2]->len}, nullptr);
  } else if (kind == "pmessage" && r->elements == 4) {
    const std::string glob(r->element[1]->str, r->element[1]->len);
    self->dispatch({r->element[2]->str, r->element[2]->len},
                   {r->element[3]->str, r->element[3]->len}, glob.c_str());
  }
}

// A message from Redis: decoded once, handed to each subscription that Redis subscription
// stands for (`glob` null: the exact subscribers of the channel).
void RedisBus::dispatch(std::string_view channel, std::string_view payload, const char* glob) {
  const std::string_view subject = names_->subject(channel);
  if (subject.empty() || !isValidSubject(subject)) return;
  auto decoded = decodeEnvelope(payload, subject);
  if (!decoded) {
    logger().debug("dropped a malformed message on %s", std::string(channel));
    return;
  }
  const BusMessagePtr msg = std::make_shared<const BusMessage>(std::move(*decoded));
  std::lock_guard lock(subscriptionsMutex_);
  if (glob == nullptr) {
    subscriptions_.forEachExact(msg->subject,
                                [&msg](const SubscriptionTable::Entry& e) { e.handler(msg); });
  } else {
    subscriptions_.forEachWildcard(subject, [&](const SubscriptionTable::Entry& e) {
      if (e.key == glob) e.handler(msg);
    });
  }
}

void RedisBus::connectBoth() {
  const uint64_t now = nowMs();
  publisher_->connect(options_, now);
  subscriber_->connect(options_, now);
}

void RedisBus::onConnectionReady() {
  if (!publisher_->ready() || !subscriber_->ready()) return;
  backoffStep_ = 0;
  if (everUp_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  everUp_ = true;
  for (const auto& [target, count] : interest_) sendInterest(target, true);
  setStatus(true, "");
  if (reportedDown_) {
    logger().information("bus up: connected to redis %s:%d", options_.host, options_.port);
    reportedDown_ = false;
  }
  flushOutbox();
}

// Either connection died: drop both and reconnect them together, so that the pair is always
// in a known state (and every live subject is resubscribed on the fresh subscriber).
void RedisBus::onConnectionLost(const std::string& reason) {
  publisher_->close();
  subscriber_->close();
  setStatus(false, "redis " + options_.host + ":" + std::to_string(options_.port) + ": " + reason);
  if (!reportedDown_) {
    logger().warning("bus down: redis %s:%d: %s; retrying", options_.host, options_.port, reason);
    reportedDown_ = true;
  }
  scheduleReconnect();
}

void RedisBus::scheduleReconnect() {
  if (reconnectAtMs_ != 0) return;
  const uint64_t base = std::min(kMaxBackoffMs, kFirstBackoffMs << std::min(backoffStep_, 10));
  ++backoffStep_;
  std::uniform_int_distribution<uint64_t> spread(0, base / 4);
  reconnectAtMs_ = nowMs() + base + spread(jitter_);
}

void RedisBus::setStatus(bool up, const std::string& reason) {
  std::lock_guard lock(statusMutex_);
  status_ = {up, reason};
}

}  // namespace heimdallr::bus

HEIMDALLR_BUS_PLUGIN(heimdallr::bus::RedisBus)
