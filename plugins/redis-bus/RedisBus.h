#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
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
#include "StorageScripts.h"
#include "heimdallr/bus/Bus.h"
#include "heimdallr/bus/PublishLatency.h"
#include "heimdallr/bus/Storage.h"
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
///
/// Storage (history and presence, Centrifugo's Redis design; keys and scripts in StorageScripts):
/// each request is one Lua script (EVALSHA, loaded at connect; EVAL again on NOSCRIPT) on the
/// publisher connection. An append assigns the offset, stores and PUBLISHes in one atomic step,
/// so subscribers get a stream's messages in offset order. Threading: Storage methods (any thread)
/// only enqueue under queueMutex_ and wake the bus thread, which sends, times out and answers;
/// every callback runs exactly once on the bus thread, with an error when Redis is down (at
/// once, never sent), when the connection dies with it in flight, when Redis gives no reply
/// within storage_timeout_ms (a later reply is ignored), or when the bus stops. The one
/// exception: a call after stop() (or before start()) is answered at once on the caller's thread
/// with "bus stopped", since no bus thread is left. presenceSet/presenceRemove are dropped while
/// Redis is down: the host refreshes presence periodically.
///
/// Up means proven: the bus is up once both connections are connected (and authenticated) and
/// Redis has answered the SCRIPT LOADs; it goes down on a loss, and while a storage request is
/// past its deadline without a reply (hung Redis) until Redis answers again.
class RedisBus : public Bus, private Storage {
 public:
  RedisBus() = default;
  ~RedisBus() override;

  void start(const std::string& nodeId, const Options& options) override;
  void publish(BusMessagePtr msg) override;
  SubscriptionId subscribe(const std::string& pattern, MessageHandler handler) override;
  void unsubscribe(SubscriptionId id) override;
  BusStatus status() const override;
  BusCounters counters() const override;
  Storage* storage() override { return this; }
  void stop() override;

 private:
  // Storage: any thread, enqueue only. Appends count as published once Redis stored them and as
  // dropped when they fail (pending limit, down, lost, timed out, stopped), so published +
  // dropped grows by exactly one per append. Every request is bounded by max_pending_bytes, like
  // publishes, from the call until Redis replies (or the connection is gone).
  void append(BusMessagePtr msg, const StreamLimits& limits,
              std::function<void(AppendResult)> done) override;
  void read(const std::string& subject, const ReadRequest& request,
            std::function<void(StreamRead)> done) override;
  void presenceSet(const std::string& subject, const PresenceMember& member,
                   uint32_t ttlS) override;
  void presenceRemove(const std::string& subject, const std::string& client) override;
  void presenceList(const std::string& subject, std::function<void(PresenceList)> done) override;

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
  /// A storage request on its way to Redis. At most one callback is set (none for the
  /// fire-and-forget presence updates).
  struct StorageRequest {
    StorageScripts::Script script = StorageScripts::kAppend;
    BusMessagePtr msg;  // append
    StreamLimits limits;
    std::string subject;  // the others
    ReadRequest readRequest;
    PresenceMember member;  // presenceSet; presenceRemove uses member.client
    uint32_t ttlS = 0;
    std::function<void(AppendResult)> onAppend;
    std::function<void(StreamRead)> onRead;
    std::function<void(PresenceList)> onList;
    size_t cost = 0;  // counted in pendingBytes_ until the request is over
    int64_t enqueuedNs = 0;
    uint64_t deadlineMs = 0;
    std::string refused;  // set: answered with this error by the bus thread, never sent
  };
  /// Sent, waiting for its reply.
  struct PendingStorage {
    StorageRequest request;
    StorageScripts::Call call;  // kept for the EVAL fallback on NOSCRIPT
    bool answered = false;      // timed out: the callback ran, the reply will only free this
    bool retried = false;
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
  void resync(std::string_view channel);
  static void onPublishReply(redisAsyncContext* context, void* reply, void* privdata);
  static void onSubscriptionReply(redisAsyncContext* context, void* reply, void* privdata);
  uint64_t nowMs() const;
  // Storage, any thread: queues the request (or answers it at once when stopped).
  void enqueueStorage(StorageRequest&& request);
  // Storage, bus thread (failStorage also on a caller's thread after stop).
  void flushStorage();
  bool sendStorage(uint64_t id, PendingStorage& pending);
  void onScriptsAnswered();
  void redisAnswered();
  void completeStorage(uint64_t id, const redisReply* reply, const char* contextError);
  void failStorage(StorageRequest& request, const std::string& error);
  void finishAppend(StorageRequest& request, AppendResult result);
  void releaseStorage(StorageRequest& request);
  void checkStorageDeadlines(uint64_t now);
  void failAllPendingStorage(const std::string& error);
  std::string storageUnavailable() const;
  std::string candidateEpoch();
  void noteMalformed(size_t count, const char* what);
  static void onScriptLoaded(redisAsyncContext* context, void* reply, void* privdata);
  static void onStorageReply(redisAsyncContext* context, void* reply, void* privdata);

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
  std::deque<StorageRequest> storageOutbox_;
  bool acceptingStorage_ = false;        // from start() until the bus thread's last drain
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
  std::deque<StorageRequest> storageIncoming_;  // taken from storageOutbox_, sent or failed next
  std::unordered_map<uint64_t, PendingStorage> storagePending_;  // by id (hiredis privdata)
  std::deque<std::pair<uint64_t, uint64_t>> storageDeadlines_;   // (deadline ms, id), in order
  uint64_t nextStorageId_ = 1;
  std::array<std::string, StorageScripts::kCount> scriptShas_;
  size_t scriptsAnswered_ = 0;  // SCRIPT LOAD replies on the current publisher connection
  std::string scriptError_;     // Redis refused a SCRIPT LOAD: storage unavailable
  std::string loggedScriptError_;
  bool presenceFailureLogged_ = false;
  bool hung_ = false;       // a storage request passed its deadline; cleared by any reply
  std::string lossReason_;  // what in-flight requests are told while their context is freed
  std::mt19937_64 epochRandom_{std::random_device{}()};
  std::atomic<uint64_t> malformed_{0};  // stream entries and presence members skipped
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
