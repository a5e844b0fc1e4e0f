#include "net/IoLoop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "net/Connection.h"

namespace heimdallr::net {

namespace {
constexpr uint64_t kTickIntervalMs = 1000;
constexpr int kMaxEventsPerWait = 256;

uint64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}
}  // namespace

IoLoop::IoLoop(int index) : index_(index), readBuffer_(new char[kReadBufferSize]) {
  epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epollFd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
  wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up fd
  ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &ev);
  nowMs_ = monotonicMs();
}

IoLoop::~IoLoop() {
  if (thread_.joinable()) stop();
  connections_.clear();
  ::close(wakeFd_);
  ::close(epollFd_);
}

void IoLoop::start() {
  thread_ = std::thread([this] { run(); });
}

void IoLoop::stop() {
  stopRequested_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] auto ignored = ::write(wakeFd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

// Any thread. The eventfd write is skipped when a wake-up is already pending, so a burst of
// posts from a room actor costs one syscall.
void IoLoop::post(Task task) {
  {
    std::lock_guard lock(tasksMutex_);
    tasks_.push_back(std::move(task));
  }
  if (!wakePending_.exchange(true, std::memory_order_acq_rel)) {
    const uint64_t one = 1;
    [[maybe_unused]] auto ignored = ::write(wakeFd_, &one, sizeof one);
  }
}

void IoLoop::watch(int fd, uint32_t events, IoHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl(ADD)");
  }
}

void IoLoop::rewatch(int fd, uint32_t events, IoHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  ::epoll_ctl(epollFd_, EPOLL_CTL_MOD, fd, &ev);
}

void IoLoop::unwatch(int fd) { ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, nullptr); }

Connection& IoLoop::adopt(std::unique_ptr<Connection> connection) {
  Connection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  connectionGauge_.store(connections_.size(), std::memory_order_relaxed);
  return *raw;
}

void IoLoop::destroyConnection(Connection* connection) { reapQueue_.push_back(connection); }
void IoLoop::scheduleFlush(Connection* connection) { flushQueue_.push_back(connection); }
void IoLoop::scheduleClosing(Connection* connection) { closingQueue_.push_back(connection); }

void IoLoop::refreshClock() { nowMs_ = monotonicMs(); }

void IoLoop::resumeReadingAt(Connection* connection, uint64_t atMs) {
  pausedReads_.push_back(connection);
  nextResumeMs_ = std::min(nextResumeMs_, atMs);
}

void IoLoop::cancelResume(Connection* connection) {
  pausedReads_.erase(std::remove(pausedReads_.begin(), pausedReads_.end(), connection),
                     pausedReads_.end());
  // nextResumeMs_ may now be early: resumeDueReads() then finds nothing due and recomputes it.
}

void IoLoop::resumeDueReads() {
  if (nowMs_ < nextResumeMs_) return;
  nextResumeMs_ = UINT64_MAX;
  size_t kept = 0;
  for (Connection* connection : pausedReads_) {
    if (connection->resumeAtMs() <= nowMs_) {
      connection->resumeReading();
    } else {
      nextResumeMs_ = std::min(nextResumeMs_, connection->resumeAtMs());
      pausedReads_[kept++] = connection;
    }
  }
  pausedReads_.resize(kept);
}

// Until the next tick or the next paused read to resume, whichever is first.
int IoLoop::waitTimeoutMs() const {
  const uint64_t next = std::min(nextTickMs_, nextResumeMs_);  // at most a tick interval away
  return next > nowMs_ ? static_cast<int>(next - nowMs_) : 0;
}

void IoLoop::run() {
  threadId_ = std::this_thread::get_id();
  refreshClock();
  nextTickMs_ = nowMs_ + kTickIntervalMs;
  epoll_event events[kMaxEventsPerWait];
  while (!stopRequested_.load(std::memory_order_relaxed)) {
    const int n = ::epoll_wait(epollFd_, events, kMaxEventsPerWait, waitTimeoutMs());
    refreshClock();
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<IoHandler*>(events[i].data.ptr);
      if (handler == nullptr) {
        uint64_t count;
        [[maybe_unused]] auto ignored = ::read(wakeFd_, &count, sizeof count);
        continue;
      }
      handler->onIoEvent(events[i].events);
    }
    runTasks();
    resumeDueReads();
    if (nowMs_ >= nextTickMs_) {
      tickConnections();
      nextTickMs_ = nowMs_ + kTickIntervalMs;
    }
    endIteration();
  }
  // Shutting down: whatever is still connected dies with the loop.
  runTasks();
  for (auto& [raw, owned] : connections_) raw->abort();
  endIteration();
}

void IoLoop::runTasks() {
  std::vector<Task> batch;
  wakePending_.store(false, std::memory_order_release);
  {
    std::lock_guard lock(tasksMutex_);
    batch.swap(tasks_);
  }
  for (auto& task : batch) task();
}

void IoLoop::tickConnections() {
  for (auto& [raw, owned] : connections_) raw->tick(nowMs_);
}

// Order matters: flushing may abort a connection (peer gone), which must still be told it is
// closing before it is destroyed.
void IoLoop::endIteration() {
  for (size_t i = 0; i < flushQueue_.size(); ++i) flushQueue_[i]->flush();
  flushQueue_.clear();
  for (size_t i = 0; i < closingQueue_.size(); ++i) closingQueue_[i]->notifyClosing();
  closingQueue_.clear();
  if (reapQueue_.empty()) return;
  for (Connection* dead : reapQueue_) connections_.erase(dead);
  reapQueue_.clear();
  connectionGauge_.store(connections_.size(), std::memory_order_relaxed);
}

}  // namespace heimdallr::net
