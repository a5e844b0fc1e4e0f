#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "net/IoLoop.h"
#include "net/Protocol.h"
#include "net/SharedBuffer.h"

namespace heimdallr::net {

/// One accepted TCP socket, owned by one IoLoop for its whole life. Holds the bounded outbound
/// queue of shared buffers and writes it with as few syscalls as it can (sendmsg with many
/// iovecs). Not thread-safe: loop thread only.
class Connection : public IoHandler {
 public:
  enum class State { kOpen, kClosing, kClosed };

  Connection(IoLoop& loop, int fd, std::string peer, size_t sendQueueLimit);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Registers the socket with the loop and starts reading into `protocol`.
  void start(std::unique_ptr<Protocol> protocol);
  /// Replaces the protocol (HTTP -> WebSocket) and feeds it `pending`, the bytes that arrived
  /// behind the handshake. The old protocol stays alive until its onData call returns.
  void upgrade(std::unique_ptr<Protocol> protocol, const char* pending, size_t size);

  /// Queues bytes for the peer. Returns false, and queues nothing, when they would take the queue
  /// past its limit (the caller decides: slow consumer). While closing, bytes are dropped.
  /// `oversizeWhenEmpty`: one frame larger than the limit is taken when nothing else is queued
  /// (a v2 reply whose size the config bounds: a join's recovered messages).
  bool send(SharedBuffer bytes, bool oversizeWhenEmpty = false);
  bool send(std::string&& bytes) { return send(makeSharedBuffer(std::move(bytes))); }

  /// Graceful close: stop reading application data, send `lastWords` after what is queued (or
  /// instead of it when `discardQueued`), half-close, then wait up to `lingerMs` for the peer's
  /// EOF so that our last bytes are not lost to a reset.
  /// Returns how many queued buffers were discarded.
  size_t close(SharedBuffer lastWords, bool discardQueued, uint64_t lingerMs);
  /// Immediate close: the peer is gone or hopeless.
  void abort();

  /// Stops reading for `ms` milliseconds: the peer's bytes wait in the kernel and TCP flow control
  /// stalls its sender, at no cost to this loop. Already paused: the earlier resume time stands.
  /// A close resumes reading at once, to see the peer's EOF.
  void pauseReading(uint64_t ms);
  /// Called by the loop when the pause is over.
  void resumeReading();
  uint64_t resumeAtMs() const { return resumeAtMs_; }

  void flush();  // called by the loop at the end of an iteration
  void tick(uint64_t nowMs);
  void notifyClosing();  // called by the loop at the end of an iteration
  void shutdown() {
    if (state_ == State::kOpen) protocol_->onShutdown(*this);
  }

  void onIoEvent(uint32_t epollEvents) override;

  IoLoop& loop() { return loop_; }
  Protocol* protocol() { return protocol_.get(); }
  const std::string& peer() const { return peer_; }
  State state() const { return state_; }
  size_t queuedBytes() const { return queuedBytes_; }
  size_t sendQueueLimit() const { return sendQueueLimit_; }

 private:
  void readAvailable();
  void enterClosing();
  void setWantWrite(bool want);
  void updateInterest();  // tells epoll what we wait for: reads unless paused, writes if blocked
  void setQueuedBytes(size_t bytes);  // keeps the loop's queued-bytes gauge in step

  IoLoop& loop_;
  const int fd_;
  const std::string peer_;
  const size_t sendQueueLimit_;
  State state_ = State::kOpen;
  std::unique_ptr<Protocol> protocol_;
  std::unique_ptr<Protocol> retired_;  // a protocol replaced during its own onData

  std::deque<SharedBuffer> queue_;
  size_t headOffset_ = 0;  // bytes of queue_.front() already written
  size_t queuedBytes_ = 0;
  bool wantWrite_ = false;
  bool readPaused_ = false;
  uint64_t resumeAtMs_ = 0;
  bool flushScheduled_ = false;
  bool closingNotified_ = false;
  bool closingQueued_ = false;
  bool halfClosed_ = false;
  uint64_t lingerDeadlineMs_ = 0;
};

}  // namespace heimdallr::net
