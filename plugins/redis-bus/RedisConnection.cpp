#include "RedisConnection.h"

#include <hiredis/hiredis.h>
#include <sys/epoll.h>

namespace heimdallr::bus {

RedisConnection::RedisConnection(int epollFd, void* owner, ReadyHandler onReady, LostHandler onLost)
    : epollFd_(epollFd), owner_(owner), onReady_(std::move(onReady)), onLost_(std::move(onLost)) {}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::connect(const RedisOptions& options, uint64_t nowMs) {
  close();
  redisAsyncContext* context = redisAsyncConnect(options.host.c_str(), options.port);
  if (context == nullptr) {
    lost("out of memory");
    return;
  }
  if (context->err) {
    const std::string reason = context->errstr;
    redisAsyncFree(context);
    lost(reason);
    return;
  }
  context_ = context;
  context_->data = this;
  fd_ = context_->c.fd;
  context_->ev.data = this;
  context_->ev.addRead = &RedisConnection::addRead;
  context_->ev.delRead = &RedisConnection::delRead;
  context_->ev.addWrite = &RedisConnection::addWrite;
  context_->ev.delWrite = &RedisConnection::delWrite;
  context_->ev.cleanup = &RedisConnection::cleanup;
  redisAsyncSetConnectCallback(context_, &RedisConnection::onConnect);
  redisAsyncSetDisconnectCallback(context_, &RedisConnection::onDisconnect);
  state_ = State::kConnecting;
  deadlineMs_ = nowMs + static_cast<uint64_t>(options.connectTimeoutMs);
  // AUTH goes first in the pipeline; the connection counts as ready only once it succeeds.
  if (!options.password.empty()) {
    if (options.username.empty()) {
      redisAsyncCommand(context_, &RedisConnection::onAuthReply, nullptr, "AUTH %s",
                        options.password.c_str());
    } else {
      redisAsyncCommand(context_, &RedisConnection::onAuthReply, nullptr, "AUTH %s %s",
                        options.username.c_str(), options.password.c_str());
    }
    authPending_ = true;
  } else {
    authPending_ = false;
  }
  addWrite(this);  // the connect completes when the socket turns writable
}

void RedisConnection::close() {
  if (context_ == nullptr) {
    state_ = State::kIdle;
    return;
  }
  redisAsyncContext* context = context_;
  context_ = nullptr;  // callbacks fired by the free below see a stale context and stay quiet
  state_ = State::kIdle;
  redisAsyncFree(context);
  fd_ = -1;
}

void RedisConnection::lost(const std::string& reason) {
  context_ = nullptr;
  fd_ = -1;
  registered_ = false;
  events_ = 0;
  state_ = State::kIdle;
  onLost_(reason);
}

void RedisConnection::checkTimeout(uint64_t nowMs) {
  if (state_ != State::kConnecting || nowMs < deadlineMs_) return;
  close();
  onLost_("connect timeout");
}

void RedisConnection::onEpollEvent(uint32_t events) {
  redisAsyncContext* context = context_;
  if (context == nullptr) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) redisAsyncHandleRead(context);
  // The read may have ended the connection (and freed the context): check before writing.
  if (context_ == context && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    redisAsyncHandleWrite(context);
  }
}

void RedisConnection::onConnect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->context_ != context) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback returns.
    self->lost(context->errstr);
    return;
  }
  if (!self->authPending_) {
    self->state_ = State::kReady;
    self->onReady_();
  }
}

void RedisConnection::onAuthReply(redisAsyncContext* context, void* reply, void*) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->context_ != context || reply == nullptr) return;
  auto* r = static_cast<redisReply*>(reply);
  self->authPending_ = false;
  if (r->type == REDIS_REPLY_ERROR) {
    const std::string reason = std::string("AUTH failed: ") + std::string(r->str, r->len);
    // Not from inside a callback: hiredis defers the free until the callback returns.
    redisAsyncDisconnect(context);
    self->context_ = nullptr;
    self->state_ = State::kIdle;
    self->onLost_(reason);
    return;
  }
  self->state_ = State::kReady;
  self->onReady_();
}

void RedisConnection::onDisconnect(const redisAsyncContext* context, int) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (self == nullptr || self->context_ != context) return;
  self->lost(context->errstr[0] != '\0' ? context->errstr : "connection closed");
}

void RedisConnection::updateEpoll() {
  if (fd_ < 0) return;
  epoll_event ev{};
  ev.events = events_;
  ev.data.ptr = this;
  if (!registered_) {
    epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd_, &ev);
    registered_ = true;
  } else {
    epoll_ctl(epollFd_, EPOLL_CTL_MOD, fd_, &ev);
  }
}

void RedisConnection::addRead(void* self) {
  auto* c = static_cast<RedisConnection*>(self);
  c->events_ |= EPOLLIN;
  c->updateEpoll();
}
void RedisConnection::delRead(void* self) {
  auto* c = static_cast<RedisConnection*>(self);
  c->events_ &= ~static_cast<uint32_t>(EPOLLIN);
  c->updateEpoll();
}
void RedisConnection::addWrite(void* self) {
  auto* c = static_cast<RedisConnection*>(self);
  c->events_ |= EPOLLOUT;
  c->updateEpoll();
}
void RedisConnection::delWrite(void* self) {
  auto* c = static_cast<RedisConnection*>(self);
  c->events_ &= ~static_cast<uint32_t>(EPOLLOUT);
  c->updateEpoll();
}
void RedisConnection::cleanup(void* self) {
  auto* c = static_cast<RedisConnection*>(self);
  if (c->registered_ && c->fd_ >= 0) epoll_ctl(c->epollFd_, EPOLL_CTL_DEL, c->fd_, nullptr);
  c->registered_ = false;
  c->events_ = 0;
}

}  // namespace heimdallr::bus
