#include "net/Connection.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace heimdallr::net {

namespace {
constexpr size_t kMaxIovecs = 64;     // frames per sendmsg; IOV_MAX is 1024
constexpr int kMaxReadsPerEvent = 4;  // then yield to the other sockets of the loop
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP;
constexpr uint32_t kWriteEvents = EPOLLOUT;
}  // namespace

Connection::Connection(IoLoop& loop, int fd, std::string peer, size_t sendQueueLimit)
    : loop_(loop), fd_(fd), peer_(std::move(peer)), sendQueueLimit_(sendQueueLimit) {}

Connection::~Connection() { ::close(fd_); }

void Connection::start(std::unique_ptr<Protocol> protocol) {
  protocol_ = std::move(protocol);
  try {
    loop_.watch(fd_, kReadEvents, this);
  } catch (const std::system_error&) {
    abort();  // epoll refused the socket (ENOMEM, ENOSPC): drop this one, keep the loop alive
  }
}

void Connection::upgrade(std::unique_ptr<Protocol> protocol, const char* pending, size_t size) {
  retired_ = std::move(protocol_);
  protocol_ = std::move(protocol);
  if (size > 0 && state_ == State::kOpen) protocol_->onData(*this, pending, size);
}

bool Connection::send(SharedBuffer bytes, bool oversizeWhenEmpty) {
  if (state_ != State::kOpen) return true;  // closing: nobody will read it anyway
  if (queuedBytes_ + bytes->size() > sendQueueLimit_) {
    // Over the limit within one loop pass is not yet a slow consumer: the end-of-pass flush has
    // not run. Write now; only what the kernel refuses counts as backlog.
    flush();
    if (state_ != State::kOpen) return true;
    const bool alone = oversizeWhenEmpty && queuedBytes_ == 0;
    if (queuedBytes_ + bytes->size() > sendQueueLimit_ && !alone) return false;
  }
  setQueuedBytes(queuedBytes_ + bytes->size());
  queue_.push_back(std::move(bytes));
  if (!flushScheduled_ && !wantWrite_) {
    flushScheduled_ = true;
    loop_.scheduleFlush(this);
  }
  return true;
}

size_t Connection::close(SharedBuffer lastWords, bool discardQueued, uint64_t lingerMs) {
  if (state_ != State::kOpen) return 0;
  size_t discarded = 0;
  if (discardQueued && !queue_.empty()) {
    // Keep a frame already partly on the wire, or the peer would see a torn frame.
    SharedBuffer partial = headOffset_ > 0 ? queue_.front() : nullptr;
    discarded = queue_.size() - (partial ? 1 : 0);
    queue_.clear();
    setQueuedBytes(partial ? partial->size() - headOffset_ : 0);
    if (partial) queue_.push_back(std::move(partial));
  }
  if (lastWords) {
    setQueuedBytes(queuedBytes_ + lastWords->size());
    queue_.push_back(std::move(lastWords));
  }
  state_ = State::kClosing;
  lingerDeadlineMs_ = loop_.nowMs() + lingerMs;
  enterClosing();
  if (!flushScheduled_ && !wantWrite_) {
    flushScheduled_ = true;
    loop_.scheduleFlush(this);
  }
  return discarded;
}

void Connection::setQueuedBytes(size_t bytes) {
  loop_.io().addQueued(static_cast<int64_t>(bytes) - static_cast<int64_t>(queuedBytes_));
  queuedBytes_ = bytes;
}

void Connection::abort() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  queue_.clear();
  setQueuedBytes(0);
  loop_.unwatch(fd_);
  enterClosing();
  loop_.destroyConnection(this);
}

void Connection::enterClosing() {
  if (readPaused_) {
    readPaused_ = false;
    loop_.cancelResume(this);
    if (state_ != State::kClosed) updateInterest();
  }
  if (closingQueued_) return;
  closingQueued_ = true;
  loop_.scheduleClosing(this);
}

void Connection::notifyClosing() {
  if (closingNotified_ || !protocol_) return;
  closingNotified_ = true;
  protocol_->onClosing(*this);
}

void Connection::tick(uint64_t nowMs) {
  if (state_ == State::kClosing && nowMs >= lingerDeadlineMs_) {
    // The peer neither read our last words nor hung up: reset, so the kernel frees the
    // socket's buffers now instead of retrying for minutes.
    linger hard{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    abort();
    return;
  }
  if (state_ == State::kOpen) protocol_->onTick(*this, nowMs);
}

void Connection::onIoEvent(uint32_t events) {
  if (state_ == State::kClosed) return;  // aborted earlier in this iteration
  if (events & EPOLLERR) {
    abort();
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) readAvailable();
  if (state_ != State::kClosed && (events & EPOLLOUT)) flush();
}

void Connection::readAvailable() {
  char* buffer = loop_.readBuffer();
  for (int i = 0; i < kMaxReadsPerEvent && state_ != State::kClosed; ++i) {
    const ssize_t n = ::recv(fd_, buffer, IoLoop::kReadBufferSize, 0);
    if (n > 0) {
      loop_.io().bytesReceived.add(static_cast<uint64_t>(n));
      if (state_ == State::kOpen) protocol_->onData(*this, buffer, static_cast<size_t>(n));
      retired_.reset();
      if (readPaused_) return;  // the protocol asked for a pause: the rest waits in the kernel
      if (static_cast<size_t>(n) < IoLoop::kReadBufferSize) return;  // drained
      continue;
    }
    if (n == 0) {  // EOF: the peer hung up (after our close frame, or rudely)
      abort();
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) abort();
    return;
  }
}

void Connection::setWantWrite(bool want) {
  if (want == wantWrite_ || state_ == State::kClosed) return;
  wantWrite_ = want;
  updateInterest();
}

void Connection::updateInterest() {
  const uint32_t events = (readPaused_ ? 0u : kReadEvents) | (wantWrite_ ? kWriteEvents : 0u);
  loop_.rewatch(fd_, events, this);
}

void Connection::pauseReading(uint64_t ms) {
  if (readPaused_ || ms == 0 || state_ != State::kOpen) return;
  readPaused_ = true;
  resumeAtMs_ = loop_.nowMs() + ms;
  updateInterest();
  loop_.resumeReadingAt(this, resumeAtMs_);
}

// Loop thread, from IoLoop::resumeDueReads(). Level-triggered epoll reports the waiting bytes on
// the next pass.
void Connection::resumeReading() {
  if (!readPaused_) return;
  readPaused_ = false;
  if (state_ != State::kClosed) updateInterest();
}

// Loop thread, at the end of an iteration or on EPOLLOUT. Everything queued since the last pass
// leaves in as few sendmsg calls as the kernel's buffer allows.
void Connection::flush() {
  flushScheduled_ = false;
  if (state_ == State::kClosed) return;
  iovec iov[kMaxIovecs];
  while (!queue_.empty()) {
    size_t count = 0;
    for (auto it = queue_.begin(); it != queue_.end() && count < kMaxIovecs; ++it, ++count) {
      const size_t offset = count == 0 ? headOffset_ : 0;
      iov[count].iov_base = const_cast<char*>((*it)->data() + offset);
      iov[count].iov_len = (*it)->size() - offset;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t written = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        setWantWrite(true);
        return;
      }
      abort();  // EPIPE, ECONNRESET: the peer is gone
      return;
    }
    loop_.io().bytesSent.add(static_cast<uint64_t>(written));
    setQueuedBytes(queuedBytes_ - static_cast<size_t>(written));
    while (written > 0) {
      const size_t left = queue_.front()->size() - headOffset_;
      if (static_cast<size_t>(written) >= left) {
        written -= static_cast<ssize_t>(left);
        queue_.pop_front();
        headOffset_ = 0;
      } else {
        headOffset_ += static_cast<size_t>(written);
        written = 0;
      }
    }
  }
  setWantWrite(false);
  if (state_ == State::kClosing && !halfClosed_) {
    // Our last words are out: half-close and wait (until the linger deadline) for the peer's EOF.
    halfClosed_ = true;
    ::shutdown(fd_, SHUT_WR);
  }
}

}  // namespace heimdallr::net
