#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "metrics/Histogram.h"

namespace heimdallr::net {

class Connection;

/// Receives readiness events for one file descriptor. Runs on the owning loop's thread.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void onIoEvent(uint32_t epollEvents) = 0;
};

/// One non-blocking event loop on its own thread (epoll + eventfd). It owns its connections for
/// their whole life: reads, writes, timers. post() is thread-safe; every other method must be
/// called on the loop's own thread.
class IoLoop {
 public:
  using Task = std::function<void()>;

  explicit IoLoop(int index);
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  void start();
  /// Any thread except the loop's: runs the remaining tasks, destroys every connection, joins.
  void stop();

  /// Any thread. Tasks run in post order, on the loop thread, after pending I/O is handled.
  void post(Task task);

  int index() const { return index_; }
  bool inLoopThread() const { return std::this_thread::get_id() == threadId_; }
  uint64_t nowMs() const { return nowMs_; }  // monotonic, refreshed once per iteration

  // --- Loop thread only ---------------------------------------------------------------------
  void watch(int fd, uint32_t events, IoHandler* handler);
  void rewatch(int fd, uint32_t events, IoHandler* handler);
  void unwatch(int fd);

  /// Takes ownership of a connection; it lives until destroyConnection().
  Connection& adopt(std::unique_ptr<Connection> connection);
  /// Destroys the connection at the end of this iteration, so handlers still on the stack of
  /// the current event stay valid.
  void destroyConnection(Connection* connection);
  /// Asks for connection->flush() at the end of this iteration: frames queued by many fan-outs in
  /// one pass leave in one writev.
  void scheduleFlush(Connection* connection);
  /// Calls connection->notifyClosing() at the end of this iteration, outside any fan-out that
  /// may be iterating over the connection's room.
  void scheduleClosing(Connection* connection);
  /// Calls connection->resumeReading() once the loop clock reaches `atMs` (to the millisecond:
  /// epoll_wait's timeout is cut short for it). cancelResume() forgets it: the connection closed.
  void resumeReadingAt(Connection* connection, uint64_t atMs);
  void cancelResume(Connection* connection);
  /// A scratch buffer for recv(), shared by all connections of this loop.
  char* readBuffer() { return readBuffer_.get(); }
  static constexpr size_t kReadBufferSize = 64 * 1024;

  /// Byte counts of this loop's sockets: written by the loop thread, read by the metrics scrape.
  struct IoCounters {
    metrics::SingleWriterCounter bytesReceived;
    metrics::SingleWriterCounter bytesSent;
    std::atomic<int64_t> queuedBytes{0};  // in all outbound queues of this loop
    void addQueued(int64_t delta) {
      queuedBytes.store(queuedBytes.load(std::memory_order_relaxed) + delta,
                        std::memory_order_relaxed);
    }
  };
  IoCounters& io() { return io_; }
  const IoCounters& io() const { return io_; }

  /// Any thread: the loop's open TCP connections (HTTP and WebSocket), for /stats.
  size_t connectionCount() const { return connectionGauge_.load(std::memory_order_relaxed); }
  template <typename F>
  void forEachConnection(F&& f) {
    for (auto& [ptr, owned] : connections_) f(*owned);
  }

 private:
  void run();
  void runTasks();
  void tickConnections();
  void resumeDueReads();
  int waitTimeoutMs() const;
  void endIteration();
  void refreshClock();

  const int index_;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::thread::id threadId_;
  std::atomic<bool> stopRequested_{false};

  std::mutex tasksMutex_;  // guards tasks_ only; held for a push or a swap, never while running
  std::vector<Task> tasks_;
  std::atomic<bool> wakePending_{false};

  uint64_t nowMs_ = 0;
  uint64_t nextTickMs_ = 0;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> flushQueue_;
  std::vector<Connection*> closingQueue_;
  std::vector<Connection*> reapQueue_;
  // Connections whose reads are paused (rate-limited floods): few at a time, scanned linearly.
  std::vector<Connection*> pausedReads_;
  uint64_t nextResumeMs_ = UINT64_MAX;
  std::unique_ptr<char[]> readBuffer_;
  std::atomic<size_t> connectionGauge_{0};
  IoCounters io_;
};

}  // namespace heimdallr::net
