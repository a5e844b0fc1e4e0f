#include "RedisBus.h"

#include <Poco/Logger.h>
#include <hiredis/hiredis.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
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

// An append sends the envelope twice (script arguments) and Redis publishes it once more.
size_t appendCostOf(const BusMessage& msg) {
  return costOf(msg) + msg.senderClient.size() + msg.senderUser.size() + msg.epoch.size() +
         kPerMessageOverhead;
}

/// Runs a user callback; an exception must not end the bus thread.
template <class Callback, class Result>
void invoke(Callback& callback, Result&& result) {
  if (!callback) return;
  try {
    callback(std::forward<Result>(result));
  } catch (const std::exception& e) {
    logger().error("a storage callback threw: %s", std::string(e.what()));
  } catch (...) {
    logger().error("a storage callback threw");
  }
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
  {
    std::lock_guard lock(queueMutex_);
    acceptingStorage_ = true;
  }
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

// --- Storage, any thread: enqueue only --------------------------------------------------------

void RedisBus::append(BusMessagePtr msg, const StreamLimits& limits,
                      std::function<void(AppendResult)> done) {
  StorageRequest request;
  request.script = StorageScripts::kAppend;
  request.cost = appendCostOf(*msg);
  request.subject = msg->subject;
  request.msg = std::move(msg);
  request.limits = limits;
  request.onAppend = std::move(done);
  enqueueStorage(std::move(request));
}

void RedisBus::read(const std::string& subject, const ReadRequest& request,
                    std::function<void(StreamRead)> done) {
  StorageRequest r;
  r.script = StorageScripts::kRead;
  r.subject = subject;
  r.readRequest = request;
  r.cost = subject.size() + kPerMessageOverhead;
  r.onRead = std::move(done);
  enqueueStorage(std::move(r));
}

void RedisBus::presenceSet(const std::string& subject, const PresenceMember& member,
                           uint32_t ttlS) {
  StorageRequest r;
  r.script = StorageScripts::kPresenceSet;
  r.subject = subject;
  r.member = member;
  r.ttlS = ttlS;
  r.cost = subject.size() + 2 * member.client.size() + member.user.size() + member.info.size() +
           member.node.size() + kPerMessageOverhead;
  enqueueStorage(std::move(r));
}

void RedisBus::presenceRemove(const std::string& subject, const std::string& client) {
  StorageRequest r;
  r.script = StorageScripts::kPresenceRemove;
  r.subject = subject;
  r.member.client = client;
  r.cost = subject.size() + client.size() + kPerMessageOverhead;
  enqueueStorage(std::move(r));
}

void RedisBus::presenceList(const std::string& subject, std::function<void(PresenceList)> done) {
  StorageRequest r;
  r.script = StorageScripts::kPresenceList;
  r.subject = subject;
  r.cost = subject.size() + kPerMessageOverhead;
  r.onList = std::move(done);
  enqueueStorage(std::move(r));
}

// The deadline runs from the call. Past max_pending_bytes a request is refused, but its answer
// still comes from the bus thread (it keeps only the callback, not the message).
void RedisBus::enqueueStorage(StorageRequest&& request) {
  request.enqueuedNs = PublishLatency::nowNs();
  if (!isValidSubject(request.subject)) request.refused = "invalid subject: " + request.subject;
  bool accepted = false;
  {
    std::lock_guard lock(queueMutex_);
    if (acceptingStorage_) {
      // Under the lock, so that deadlines grow in queue order.
      request.deadlineMs = nowMs() + static_cast<uint64_t>(options_.storageTimeoutMs);
      if (!request.refused.empty()) {
        request.msg.reset();
        request.cost = 0;
      } else if (pendingBytes_.load() + request.cost > options_.maxPendingBytes) {
        request.refused = "bus overloaded: max_pending_bytes reached";
        request.msg.reset();
        request.cost = 0;
      } else {
        pendingBytes_.fetch_add(request.cost);
      }
      storageOutbox_.push_back(std::move(request));
      accepted = true;
      // Under the lock: the bus thread drains once more, under it, before wakeFd_ is closed.
      const uint64_t one = 1;
      [[maybe_unused]] auto ignored = ::write(wakeFd_, &one, sizeof one);
    }
  }
  if (accepted) return;
  // Not started, or stopped: no bus thread is left to answer.
  failStorage(request, "bus stopped");
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
    const uint64_t storageDeadline =
        storageDeadlines_.empty() ? 0 : storageDeadlines_.front().first;
    for (uint64_t deadline :
         {publisher_->connectDeadlineMs(), subscriber_->connectDeadlineMs(), storageDeadline}) {
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
    flushStorage();
    const uint64_t later = nowMs();
    checkStorageDeadlines(later);
    publisher_->checkTimeout(later);
    subscriber_->checkTimeout(later);
    if (reconnectAtMs_ != 0 && later >= reconnectAtMs_) {
      reconnectAtMs_ = 0;
      connectBoth();
    }
  }
  // Every storage request still here gets its answer now: queued ones, then those in flight
  // (hiredis calls their callbacks with no reply as it frees the context).
  lossReason_ = "bus stopped";
  {
    std::lock_guard lock(queueMutex_);
    acceptingStorage_ = false;
    while (!storageOutbox_.empty()) {
      storageIncoming_.push_back(std::move(storageOutbox_.front()));
      storageOutbox_.pop_front();
    }
  }
  for (auto& request : storageIncoming_) {
    failStorage(request, request.refused.empty() ? lossReason_ : request.refused);
  }
  storageIncoming_.clear();
  publisher_->close();
  subscriber_->close();
  failAllPendingStorage(lossReason_);
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
    while (!storageOutbox_.empty()) {
      storageIncoming_.push_back(std::move(storageOutbox_.front()));
      storageOutbox_.pop_front();
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
  if (r != nullptr) self->redisAnswered();
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
  } else if (kind == "subscribe" && r->element[1]->type == REDIS_REPLY_STRING) {
    self->resync({r->element[1]->str, r->element[1]->len});
  }
}

// SUBSCRIBE confirmed (the first time, or again after a reconnect): what was published on the
// channel before it took effect never reached us. The subscribers hear so (MessageKind::kResync)
// and read the stream if they keep one.
void RedisBus::resync(std::string_view channel) {
  const std::string_view subject = names_->subject(channel);
  if (subject.empty() || !isValidSubject(subject)) return;
  auto msg = std::make_shared<BusMessage>();
  msg->subject.assign(subject);
  msg->kind = MessageKind::kResync;
  const BusMessagePtr shared = std::move(msg);
  std::lock_guard lock(subscriptionsMutex_);
  subscriptions_.forEachExact(shared->subject,
                              [&shared](const SubscriptionTable::Entry& e) { e.handler(shared); });
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

// --- Storage, bus thread ----------------------------------------------------------------------

// Each request taken from the queue is sent or answered now, never kept waiting: while Redis is
// down the caller hears so at once.
void RedisBus::flushStorage() {
  while (!storageIncoming_.empty()) {
    StorageRequest request = std::move(storageIncoming_.front());
    storageIncoming_.pop_front();
    if (!request.refused.empty()) {
      failStorage(request, request.refused);
      continue;
    }
    if (const std::string unavailable = storageUnavailable(); !unavailable.empty()) {
      releaseStorage(request);
      failStorage(request, unavailable);  // presence updates are dropped
      continue;
    }
    PendingStorage pending;
    switch (request.script) {
      case StorageScripts::kAppend:
        pending.call =
            StorageScripts::append(*names_, *request.msg, request.limits, candidateEpoch());
        request.msg.reset();  // the call holds the envelope
        break;
      case StorageScripts::kRead:
        pending.call =
            StorageScripts::read(*names_, request.subject, request.readRequest, candidateEpoch());
        break;
      case StorageScripts::kPresenceSet:
        pending.call =
            StorageScripts::presenceSet(*names_, request.subject, request.member, request.ttlS);
        break;
      case StorageScripts::kPresenceRemove:
        pending.call =
            StorageScripts::presenceRemove(*names_, request.subject, request.member.client);
        break;
      default:
        pending.call = StorageScripts::presenceList(*names_, request.subject);
        break;
    }
    const uint64_t deadline = request.deadlineMs;
    pending.request = std::move(request);
    const uint64_t id = nextStorageId_++;
    auto [it, inserted] = storagePending_.emplace(id, std::move(pending));
    if (!sendStorage(id, it->second)) {
      StorageRequest failed = std::move(it->second.request);
      storagePending_.erase(it);
      releaseStorage(failed);
      failStorage(failed, "bus down: the redis connection is closing");
      continue;
    }
    storageDeadlines_.emplace_back(deadline, id);
  }
}

bool RedisBus::sendStorage(uint64_t id, PendingStorage& pending) {
  static const std::string kNoSha;  // EVAL with the source
  const std::string& sha = pending.retried ? kNoSha : scriptShas_[pending.call.script];
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  pending.call.argv(sha, args, lengths);  // points into pending.call and sha: both outlive this
  return redisAsyncCommandArgv(publisher_->context(), &RedisBus::onStorageReply,
                               reinterpret_cast<void*>(static_cast<uintptr_t>(id)),
                               static_cast<int>(args.size()), args.data(),
                               lengths.data()) == REDIS_OK;
}

// A reply, or null when hiredis frees the context with the request in flight.
void RedisBus::onStorageReply(redisAsyncContext* context, void* reply, void* privdata) {
  auto* connection = static_cast<RedisConnection*>(context->data);
  if (connection == nullptr) return;
  auto* self = static_cast<RedisBus*>(connection->owner());
  self->completeStorage(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata)),
                        static_cast<const redisReply*>(reply), context->errstr);
}

void RedisBus::completeStorage(uint64_t id, const redisReply* r, const char* contextError) {
  auto it = storagePending_.find(id);
  if (it == storagePending_.end()) return;
  if (r != nullptr) redisAnswered();
  PendingStorage& pending = it->second;
  if (pending.answered) {  // a late reply after the timeout: only frees the request
    releaseStorage(pending.request);
    storagePending_.erase(it);
    return;
  }
  // The script cache was flushed (SCRIPT FLUSH, a failover): once more with the source.
  if (r != nullptr && r->type == REDIS_REPLY_ERROR && !pending.retried &&
      std::string_view(r->str, r->len).substr(0, 8) == "NOSCRIPT" && publisher_->ready()) {
    pending.retried = true;
    if (sendStorage(id, pending)) return;
  }
  StorageRequest request = std::move(pending.request);
  storagePending_.erase(it);
  releaseStorage(request);
  if (r == nullptr) {
    std::string error = lossReason_;
    if (error.empty()) {
      error =
          "bus down: redis " + options_.host + ":" + std::to_string(options_.port) + ": " +
          (contextError != nullptr && contextError[0] != '\0' ? contextError : "connection lost");
    }
    failStorage(request, error);
    return;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    const std::string error = "redis: " + std::string(r->str, r->len);
    if (request.script == StorageScripts::kPresenceSet ||
        request.script == StorageScripts::kPresenceRemove) {
      // Fire and forget: said once (then at debug level), since the host refreshes regularly.
      if (!presenceFailureLogged_) {
        logger().warning("presence update on %s failed: %s (logged once)", request.subject, error);
      } else {
        logger().debug("presence update on %s failed: %s", request.subject, error);
      }
      presenceFailureLogged_ = true;
    }
    failStorage(request, error);
    return;
  }
  size_t malformed = 0;
  switch (request.script) {
    case StorageScripts::kAppend:
      finishAppend(request, StorageScripts::parseAppend(*r));
      break;
    case StorageScripts::kRead:
      invoke(request.onRead,
             StorageScripts::parseRead(*r, request.subject, request.readRequest.newest, malformed));
      noteMalformed(malformed, "stream entries");
      break;
    case StorageScripts::kPresenceList:
      invoke(request.onList, StorageScripts::parsePresenceList(*r, malformed));
      noteMalformed(malformed, "presence members");
      break;
    default:
      break;
  }
}

// Thread-safe (also runs on the caller's thread after stop()): touches only atomics.
void RedisBus::failStorage(StorageRequest& request, const std::string& error) {
  switch (request.script) {
    case StorageScripts::kAppend: {
      AppendResult result;
      result.error = error;
      finishAppend(request, std::move(result));
      break;
    }
    case StorageScripts::kRead: {
      StreamRead result;
      result.error = error;
      invoke(request.onRead, std::move(result));
      break;
    }
    case StorageScripts::kPresenceList: {
      PresenceList result;
      result.error = error;
      invoke(request.onList, std::move(result));
      break;
    }
    default:
      break;  // fire and forget
  }
  request.onAppend = nullptr;
  request.onRead = nullptr;
  request.onList = nullptr;
}

void RedisBus::finishAppend(StorageRequest& request, AppendResult result) {
  if (result.error.empty()) {
    published_.fetch_add(1, std::memory_order_relaxed);
    latency_.observe(request.enqueuedNs);
  } else {
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  invoke(request.onAppend, std::move(result));
}

void RedisBus::releaseStorage(StorageRequest& request) {
  pendingBytes_.fetch_sub(request.cost);
  request.cost = 0;
}

// A request past its deadline is answered with an error; the connection is kept (a hung Redis
// may come back, and reconnecting would not help), and its late reply is ignored. Meanwhile the
// bus reports itself down: Redis does not answer commands.
void RedisBus::checkStorageDeadlines(uint64_t now) {
  while (!storageDeadlines_.empty() && storageDeadlines_.front().first <= now) {
    const uint64_t id = storageDeadlines_.front().second;
    storageDeadlines_.pop_front();
    auto it = storagePending_.find(id);
    if (it == storagePending_.end() || it->second.answered) continue;
    PendingStorage& pending = it->second;
    pending.answered = true;
    pending.call.args.clear();
    const std::string limit = std::to_string(options_.storageTimeoutMs) + " ms";
    if (!hung_) {
      hung_ = true;
      setStatus(false, "redis " + options_.host + ":" + std::to_string(options_.port) +
                           ": no reply within " + limit);
      logger().warning("bus down: redis %s:%d gave no reply within %s", options_.host,
                       options_.port, limit);
    }
    failStorage(pending.request, "bus timeout: redis gave no reply within " + limit);
  }
}

void RedisBus::failAllPendingStorage(const std::string& error) {
  auto pending = std::move(storagePending_);
  storagePending_.clear();
  storageDeadlines_.clear();
  for (auto& [id, entry] : pending) {
    releaseStorage(entry.request);
    if (!entry.answered) failStorage(entry.request, error);
  }
}

// Any reply on the publisher connection proves that Redis answers again.
void RedisBus::redisAnswered() {
  if (!hung_) return;
  hung_ = false;
  setStatus(true, "");
  logger().information("bus up: redis %s:%d answers again", options_.host, options_.port);
}

std::string RedisBus::storageUnavailable() const {
  if (!publisher_->ready() || scriptsAnswered_ < StorageScripts::kCount) {
    return "bus down: " + status().reason;
  }
  if (!scriptError_.empty()) {
    return "bus storage unavailable: redis refused SCRIPT LOAD: " + scriptError_;
  }
  return {};
}

std::string RedisBus::candidateEpoch() {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(epochRandom_()));
  return text;
}

void RedisBus::noteMalformed(size_t count, const char* what) {
  if (count == 0) return;
  if (malformed_.fetch_add(count, std::memory_order_relaxed) == 0) {
    logger().warning("skipped %z malformed %s from redis (logged once)", count, std::string(what));
  } else {
    logger().debug("skipped %z malformed %s from redis", count, std::string(what));
  }
}

void RedisBus::connectBoth() {
  const uint64_t now = nowMs();
  publisher_->connect(options_, now);
  subscriber_->connect(options_, now);
}

// Both connected (and authenticated): subscriptions and queued publishes go out at once; the
// bus is up when Redis has also answered the SCRIPT LOADs (onScriptsAnswered).
void RedisBus::onConnectionReady() {
  if (!publisher_->ready() || !subscriber_->ready()) return;
  for (const auto& [target, count] : interest_) sendInterest(target, true);
  scriptsAnswered_ = 0;
  scriptError_.clear();
  for (size_t i = 0; i < StorageScripts::kCount; ++i) {
    const std::string& source = StorageScripts::source(static_cast<StorageScripts::Script>(i));
    redisAsyncCommand(publisher_->context(), &RedisBus::onScriptLoaded,
                      reinterpret_cast<void*>(static_cast<uintptr_t>(i)), "SCRIPT LOAD %b",
                      source.data(), source.size());
  }
  flushOutbox();
}

void RedisBus::onScriptLoaded(redisAsyncContext* context, void* reply, void* privdata) {
  auto* connection = static_cast<RedisConnection*>(context->data);
  auto* r = static_cast<redisReply*>(reply);
  if (connection == nullptr || r == nullptr) return;  // lost: the next connection loads again
  auto* self = static_cast<RedisBus*>(connection->owner());
  const auto index = static_cast<size_t>(reinterpret_cast<uintptr_t>(privdata));
  if (r->type == REDIS_REPLY_STRING && index < StorageScripts::kCount) {
    self->scriptShas_[index].assign(r->str, r->len);
  } else if (self->scriptError_.empty()) {
    self->scriptError_ = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                                                      : std::string("unexpected reply");
  }
  if (++self->scriptsAnswered_ == StorageScripts::kCount) self->onScriptsAnswered();
}

// Redis answered a command on the fresh connection pair: up.
void RedisBus::onScriptsAnswered() {
  backoffStep_ = 0;
  if (everUp_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  everUp_ = true;
  hung_ = false;
  setStatus(true, "");
  if (reportedDown_) {
    logger().information("bus up: connected to redis %s:%d", options_.host, options_.port);
    reportedDown_ = false;
  }
  if (!scriptError_.empty() && scriptError_ != loggedScriptError_) {
    // Not transient (ACLs, scripting disabled): said once, with what to change.
    loggedScriptError_ = scriptError_;
    logger().error(
        "redis %s:%d refused SCRIPT LOAD (%s): history and presence fail until the bus user may "
        "run scripts (EVAL, EVALSHA, SCRIPT)",
        options_.host, options_.port, scriptError_);
  }
}

// Either connection died: drop both and reconnect them together, so that the pair is always
// in a known state (and every live subject is resubscribed on the fresh subscriber).
void RedisBus::onConnectionLost(const std::string& reason) {
  const std::string status =
      "redis " + options_.host + ":" + std::to_string(options_.port) + ": " + reason;
  lossReason_ = "bus down: " + status;
  publisher_->close();  // in-flight storage requests fail with lossReason_
  subscriber_->close();
  failAllPendingStorage(lossReason_);
  lossReason_.clear();
  scriptsAnswered_ = 0;
  hung_ = false;
  setStatus(false, status);
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
