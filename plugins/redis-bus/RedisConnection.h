#pragma once

#include <hiredis/async.h>

#include <cstdint>
#include <functional>
#include <string>

#include "RedisOptions.h"

namespace heimdallr::bus {

/// One hiredis async connection driven by the bus thread's epoll (hiredis 0.14 has no adapter for
/// it, so this class is the adapter). Bus thread only; not thread-safe.
///
/// Life cycle: connect() -> (onReady | onLost). After onLost the hiredis context is gone and
/// connect() may be called again. onLost is reported once per connection attempt.
class RedisConnection {
 public:
  using ReadyHandler = std::function<void()>;
  using LostHandler = std::function<void(const std::string& reason)>;

  /// `owner` is handed back to command callbacks through owner() (they only get the context).
  RedisConnection(int epollFd, void* owner, ReadyHandler onReady, LostHandler onLost);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  /// Starts a non-blocking connect; AUTH is sent first when a password is configured.
  void connect(const RedisOptions& options, uint64_t nowMs);
  /// Drops the connection without reporting onLost (shutdown, or the partner connection died).
  void close();

  bool ready() const { return state_ == State::kReady; }
  void* owner() const { return owner_; }
  /// Valid while ready(); commands may be queued on it with redisAsyncCommand.
  redisAsyncContext* context() { return context_; }

  /// The bus loop calls these.
  void onEpollEvent(uint32_t events);
  void checkTimeout(uint64_t nowMs);
  uint64_t connectDeadlineMs() const { return state_ == State::kConnecting ? deadlineMs_ : 0; }

 private:
  enum class State { kIdle, kConnecting, kReady };

  void lost(const std::string& reason);
  void updateEpoll();
  static void onConnect(const redisAsyncContext* context, int status);
  static void onDisconnect(const redisAsyncContext* context, int status);
  static void onAuthReply(redisAsyncContext* context, void* reply, void* privdata);
  static void addRead(void* self);
  static void delRead(void* self);
  static void addWrite(void* self);
  static void delWrite(void* self);
  static void cleanup(void* self);

  const int epollFd_;
  void* const owner_;
  ReadyHandler onReady_;
  LostHandler onLost_;
  State state_ = State::kIdle;
  redisAsyncContext* context_ = nullptr;
  int fd_ = -1;
  uint32_t events_ = 0;
  bool registered_ = false;
  uint64_t deadlineMs_ = 0;
  bool authPending_ = false;
};

}  // namespace heimdallr::bus
