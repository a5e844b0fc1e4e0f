#include "SoakDriver.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "Clock.h"
#include "JsonWriter.h"
#include "Payload.h"

namespace heimdallr::soak {
namespace {

using bench::monotonicNs;
constexpr uint64_t kNsPerSec = 1000000000ull;
constexpr uint64_t kNsPerMs = 1000000ull;
constexpr uint32_t kOwnRoom = UINT32_MAX;
constexpr uint32_t kStableStep = 0;  // Payload::step of a stable publisher's message
constexpr uint32_t kChurnStep = 1;   // Payload::step of a churner's message
constexpr uint64_t kChurnIdBase = uint64_t{1} << 32;
constexpr uint8_t kTimerLeave = 0, kTimerDeadline = 1;

uint64_t secondsToNs(double s) { return static_cast<uint64_t>(s * 1e9); }

void setError(std::string& slot, const std::string& text) {
  if (slot.empty()) slot = text;
}

}  // namespace

SoakDriver::SoakDriver(SoakOptions options)
    : opt_(std::move(options)), rng_(opt_.seed), scratch_(256 * 1024) {
  epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epollFd_ < 0) throw std::runtime_error("epoll_create1 failed");
  v2_ = std::make_unique<V2Load>(opt_.v2, opt_.targets, opt_.closeTimeoutS, opt_.seed, epollFd_);
}

SoakDriver::~SoakDriver() {
  v2_.reset();
  members_.clear();
  churners_.clear();
  graveyard_.clear();
  if (epollFd_ >= 0) ::close(epollFd_);
}

std::string SoakDriver::roomName(uint32_t room) const {
  return opt_.roomPrefix + "-" + std::to_string(room);
}

SoakDriver::Churner* SoakDriver::churner(uint64_t id) {
  auto it = churners_.find(id);
  return it == churners_.end() ? nullptr : &it->second;
}

int SoakDriver::run() {
  if (!connectStable() || !probeSubscriptions()) {
    std::fprintf(stderr, "soak: setup failed: %s\n", setupError_.c_str());
    writeReport();
    return 2;
  }
  loadPhase();
  drainPhase();
  closeStable();
  return writeReport();
}

// ---------------------------------------------------------------------------------------------
// Set-up: every stable member connected, then every one has heard every publisher of its room.

bool SoakDriver::connectStable() {
  const auto nodes = static_cast<uint32_t>(opt_.targets.size());
  roomPublishers_.resize(opt_.rooms);
  for (uint32_t r = 0; r < opt_.rooms; ++r) {
    for (uint32_t n = 0; n < nodes; ++n) {
      for (uint32_t k = 0; k < opt_.pubsPerNode + opt_.subsPerNode; ++k) {
        const auto id = static_cast<uint32_t>(members_.size());
        Member m;
        m.room = r;
        m.conn = std::make_unique<SoakConnection>(id, opt_.targets[n], "/" + roomName(r),
                                                  static_cast<SoakConnection::Listener&>(*this),
                                                  epollFd_);
        if (k < opt_.pubsPerNode) {
          m.publisher = static_cast<int32_t>(publishers_.size());
          Publisher p;
          p.member = id;
          p.room = r;
          p.indexInRoom = static_cast<uint32_t>(roomPublishers_[r].size());
          roomPublishers_[r].push_back(static_cast<uint32_t>(publishers_.size()));
          publishers_.push_back(p);
        }
        members_.push_back(std::move(m));
      }
    }
  }
  for (auto& m : members_) {
    const size_t pubs = roomPublishers_[m.room].size();
    m.trackers.resize(pubs);
    m.unique.assign(pubs, 0);
    m.heardProbe.assign(pubs, false);
  }
  for (auto& m : members_) m.conn->start();
  v2_->connect();
  const uint64_t deadline = monotonicNs() + 30 * kNsPerSec;
  for (;;) {
    if (setupError_.empty() && !v2_->setupError().empty()) setupError_ = v2_->setupError();
    if (!setupError_.empty()) return false;
    const bool all =
        std::all_of(members_.begin(), members_.end(), [](const Member& m) { return m.open; });
    if (all && v2_->ready()) return true;
    if (monotonicNs() > deadline) {
      setupError_ = all ? "v2 clients did not all connect and join within 30 s"
                        : "stable members did not all connect within 30 s";
      return false;
    }
    poll(monotonicNs() + 50 * kNsPerMs);
  }
}

bool SoakDriver::probeSubscriptions() {
  const uint64_t deadline = monotonicNs() + 30 * kNsPerSec;
  for (;;) {
    const bool all = std::all_of(members_.begin(), members_.end(), [](const Member& m) {
      return std::all_of(m.heardProbe.begin(), m.heardProbe.end(), [](bool b) { return b; });
    });
    if (all) break;
    if (!setupError_.empty()) return false;
    if (monotonicNs() > deadline) {
      setupError_ = "stable members did not hear every publisher of their room within 30 s";
      return false;
    }
    for (size_t p = 0; p < publishers_.size(); ++p) {
      members_[publishers_[p].member].conn->sendText("probe " + std::to_string(p));
    }
    poll(monotonicNs() + 100 * kNsPerMs);
  }
  poll(monotonicNs() + 200 * kNsPerMs);  // late probes land (and are ignored) before the load
  return setupError_.empty();
}

// ---------------------------------------------------------------------------------------------
// The load: publishers on a fixed schedule, churners started at a fixed rate.

void SoakDriver::loadPhase() {
  loadStartNs_ = monotonicNs();
  loadEndNs_ = loadStartNs_ + secondsToNs(opt_.durationS);
  lastStatusNs_ = loadStartNs_;
  const uint64_t period = secondsToNs(1.0 / opt_.pubRate);
  for (size_t p = 0; p < publishers_.size(); ++p) {
    publishers_[p].nextNs = loadStartNs_ + period * p / publishers_.size();
  }
  churning_ = opt_.churnRate > 0;
  nextChurnNs_ = loadStartNs_;
  v2_->startLoad(loadStartNs_);
  std::printf("READY members=%zu publishers=%zu v2_clients=%zu\n", members_.size(),
              publishers_.size(), v2_->clientCount());
  std::fflush(stdout);

  for (;;) {
    uint64_t now = monotonicNs();
    if (now >= loadEndNs_) break;
    sendDue(now);
    while (churning_ && nextChurnNs_ <= now) {
      startChurner(now);
      nextChurnNs_ += secondsToNs(1.0 / opt_.churnRate);
    }
    runTimers(now);
    v2_->tick(now);
    if (now - lastStatusNs_ >= secondsToNs(opt_.statusS)) status(now, false);

    uint64_t wake = std::min(loadEndNs_, lastStatusNs_ + secondsToNs(opt_.statusS));
    for (const auto& p : publishers_) wake = std::min(wake, p.nextNs);
    if (churning_) wake = std::min(wake, nextChurnNs_);
    if (!timers_.empty()) wake = std::min(wake, timers_.top().atNs);
    wake = std::min(wake, v2_->wakeNs());
    poll(wake);
  }
}

void SoakDriver::sendDue(uint64_t now) {
  const uint64_t period = secondsToNs(1.0 / opt_.pubRate);
  for (size_t i = 0; i < publishers_.size(); ++i) {
    Publisher& p = publishers_[i];
    while (p.nextNs <= now) {
      bench::Payload payload{p.nextNs, static_cast<uint32_t>(i), p.sent, kStableStep};
      bench::encodePayload(payload, opt_.payloadSize, payloadBuf_);
      if (members_[p.member].conn->sendText(payloadBuf_)) ++p.sent;
      p.nextNs += period;
    }
  }
}

void SoakDriver::startChurner(uint64_t now) {
  const uint64_t id = kChurnIdBase + nextChurnId_++;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Churner c;
  c.startNs = now;
  const bool own = unit(rng_) < opt_.ephemeralShare || opt_.rooms == 0;
  c.room = own ? kOwnRoom : static_cast<uint32_t>(rng_() % opt_.rooms);
  const double leave = unit(rng_);
  if (leave < opt_.earlyAbortShare) {
    c.leave = Churner::Leave::kEarlyAbort;
  } else if (leave < opt_.earlyAbortShare + (1 - opt_.earlyAbortShare) * 0.5) {
    c.leave = Churner::Leave::kGraceful;
  } else if (leave < opt_.earlyAbortShare + (1 - opt_.earlyAbortShare) * 0.75) {
    c.leave = Churner::Leave::kFin;
  } else {
    c.leave = Churner::Leave::kReset;
  }
  c.sends = c.leave != Churner::Leave::kEarlyAbort && unit(rng_) < opt_.churnSendShare;
  const double lifetime = c.leave == Churner::Leave::kEarlyAbort
                              ? unit(rng_) * 0.02
                              : opt_.churnMinS + unit(rng_) * (opt_.churnMaxS - opt_.churnMinS);
  const std::string path = own ? "/" + opt_.roomPrefix + "-own-" + std::to_string(id - kChurnIdBase)
                               : "/" + roomName(c.room);
  const auto& target = opt_.targets[rng_() % opt_.targets.size()];
  c.conn = std::make_unique<SoakConnection>(
      id, target, path, static_cast<SoakConnection::Listener&>(*this), epollFd_);
  if (own) ++churnEphemeral_;
  ++churnStarted_;
  SoakConnection* conn = c.conn.get();
  const bool early = c.leave == Churner::Leave::kEarlyAbort;
  churners_.emplace(id, std::move(c));
  timers_.push({now + secondsToNs(lifetime), id, kTimerLeave});
  // Half the early aborts send only part of their upgrade request before they go.
  const bool partial = early && rng_() % 2 == 0;
  conn->start(partial ? rng_() % 150 : SIZE_MAX);  // a failure has called onClosed() already
}

void SoakDriver::runTimers(uint64_t now) {
  while (!timers_.empty() && timers_.top().atNs <= now) {
    const Timer t = timers_.top();
    timers_.pop();
    Churner* c = churner(t.churnId);
    if (!c) continue;
    SoakConnection& conn = *c->conn;
    if (t.kind == kTimerDeadline) {
      if (c->awaitingEcho) {
        ++churnEchoMissing_;
        setError(firstChurnError_, "churner " + std::to_string(conn.id() - kChurnIdBase) +
                                       ": its own message did not come back");
        c->awaitingEcho = false;
        churnerLeave(*c, now);
      } else if (conn.state() == SoakConnection::State::kClosing) {
        ++churnCloseTimeouts_;
        setError(firstChurnError_, "churner " + std::to_string(conn.id() - kChurnIdBase) +
                                       ": the close handshake did not complete");
        c->timedOut = true;
        conn.abort(true);
      }
      continue;
    }
    // Leave timer.
    if (c->leave == Churner::Leave::kEarlyAbort) {
      c->leaving = true;
      ++churnEarlyAborts_;
      conn.abort(rng_() % 2 == 0);
      continue;
    }
    if (conn.state() != SoakConnection::State::kOpen) {
      if (conn.state() == SoakConnection::State::kClosing) continue;  // the server is closing it
      if (now - c->startNs > secondsToNs(opt_.closeTimeoutS)) {
        ++churnFailed_;
        setError(firstChurnError_, "churner " + std::to_string(conn.id() - kChurnIdBase) +
                                       ": not open " + std::to_string(opt_.closeTimeoutS) +
                                       " s after it started");
        c->leaving = true;
        conn.abort(true);
      } else {
        timers_.push({now + 50 * kNsPerMs, t.churnId, kTimerLeave});  // still upgrading
      }
      continue;
    }
    if (c->sends && !c->echoed) {
      if (!c->awaitingEcho) {
        c->awaitingEcho = true;
        timers_.push({now + secondsToNs(opt_.closeTimeoutS), t.churnId, kTimerDeadline});
      }
      continue;  // leaves when the echo arrives (a leave timer is pushed then)
    }
    churnerLeave(*c, now);
  }
}

void SoakDriver::churnerLeave(Churner& c, uint64_t now) {
  // `c` may be erased by the close callbacks below: read what is needed first.
  c.leaving = true;
  SoakConnection& conn = *c.conn;
  switch (c.leave) {
    case Churner::Leave::kGraceful:
      timers_.push({now + secondsToNs(opt_.closeTimeoutS), conn.id(), kTimerDeadline});
      conn.closeGracefully();
      break;
    case Churner::Leave::kFin:
      ++churnFins_;
      conn.abort(false);
      break;
    case Churner::Leave::kReset:
    case Churner::Leave::kEarlyAbort:
      ++churnResets_;
      conn.abort(true);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// The end: the last messages arrive, churners finish, stable members close cleanly.

bool SoakDriver::allDelivered() const {
  for (const auto& m : members_) {
    const auto& pubs = roomPublishers_[m.room];
    for (size_t i = 0; i < pubs.size(); ++i) {
      if (m.unique[i] < publishers_[pubs[i]].sent) return false;
    }
  }
  return true;
}

void SoakDriver::drainPhase() {
  churning_ = false;
  v2_->stopLoad();
  const uint64_t start = monotonicNs();
  const uint64_t deliveryDeadline = start + secondsToNs(opt_.drainS);
  const uint64_t churnDeadline =
      start + secondsToNs(std::max(opt_.drainS, opt_.churnMaxS + 2 * opt_.closeTimeoutS + 1));
  for (;;) {
    const uint64_t now = monotonicNs();
    runTimers(now);
    v2_->tick(now);
    const bool delivered = allDelivered() || now >= deliveryDeadline;
    const bool churnDone = churners_.empty() || now >= churnDeadline;
    const bool v2Done = v2_->settled(now) || now >= deliveryDeadline;
    if (delivered && churnDone && v2Done) break;
    uint64_t wake = now + 50 * kNsPerMs;
    if (!timers_.empty()) wake = std::min(wake, timers_.top().atNs);
    wake = std::min(wake, v2_->wakeNs());
    poll(wake);
  }
  for (auto it = churners_.begin(); it != churners_.end();) {
    // Still there after the deadline: a stuck upgrade or close, already counted by its timers.
    it->second.leaving = true;
    it->second.leave = Churner::Leave::kFin;
    auto& conn = *it->second.conn;
    ++it;
    conn.abort(true);
  }
  status(monotonicNs(), true);
}

void SoakDriver::closeStable() {
  closingStable_ = true;
  for (auto& m : members_) {
    if (m.open) m.conn->closeGracefully();
  }
  v2_->closeAll();
  const uint64_t deadline = monotonicNs() + secondsToNs(opt_.closeTimeoutS);
  for (;;) {
    const bool all = std::all_of(members_.begin(), members_.end(), [](const Member& m) {
      return m.conn->state() == SoakConnection::State::kClosed;
    });
    if (all && v2_->allClosed()) break;
    if (monotonicNs() > deadline) {
      v2_->abortRemaining();
      for (auto& m : members_) {
        if (m.conn->state() != SoakConnection::State::kClosed) {
          ++stableCloseErrors_;
          m.conn->abort(true);
        }
      }
      break;
    }
    poll(monotonicNs() + 50 * kNsPerMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Events.

void SoakDriver::poll(uint64_t untilNs) {
  epoll_event events[256];
  const uint64_t now = monotonicNs();
  const int timeoutMs =
      untilNs <= now
          ? 0
          : static_cast<int>(std::min<uint64_t>((untilNs - now + kNsPerMs - 1) / kNsPerMs, 1000));
  const int n = ::epoll_wait(epollFd_, events, 256, timeoutMs);
  for (int i = 0; i < n; ++i) {
    static_cast<SoakConnection*>(events[i].data.ptr)
        ->onEvent(events[i].events, scratch_.data(), scratch_.size());
  }
  graveyard_.clear();
  v2_->afterPoll();
}

void SoakDriver::onOpen(SoakConnection& conn) {
  if (isStable(conn.id())) {
    members_[conn.id()].open = true;
    return;
  }
  Churner* c = churner(conn.id());
  if (!c) return;
  c->opened = true;
  ++churnOpened_;
  if (c->sends) {
    bench::Payload payload{monotonicNs(), static_cast<uint32_t>(conn.id() - kChurnIdBase), 0,
                           kChurnStep};
    bench::encodePayload(payload, opt_.payloadSize, c->message);
    if (conn.sendText(c->message)) {
      c->sent = true;
      ++churnSent_;
    }
  }
}

void SoakDriver::onMessage(SoakConnection& conn, std::string_view text, uint64_t recvNs) {
  const auto payload = bench::decodePayload(text);
  if (isStable(conn.id())) {
    Member& m = members_[conn.id()];
    if (!payload) {
      if (text.rfind("probe ", 0) == 0) {
        const auto p = std::strtoul(std::string(text.substr(6)).c_str(), nullptr, 10);
        if (p < publishers_.size() && publishers_[p].room == m.room) {
          m.heardProbe[publishers_[p].indexInRoom] = true;
        } else {
          ++foreign_;
        }
      } else {
        ++unparsed_;
      }
      return;
    }
    if (payload->step == kChurnStep) {
      ++churnSeenByStable_;
      return;
    }
    if (payload->publisher >= publishers_.size() ||
        publishers_[payload->publisher].room != m.room) {
      ++foreign_;
      return;
    }
    const uint32_t idx = publishers_[payload->publisher].indexInRoom;
    switch (m.trackers[idx].observe(payload->seq)) {
      case bench::SequenceTracker::Verdict::kInOrder:
        ++m.unique[idx];
        break;
      case bench::SequenceTracker::Verdict::kOutOfOrder:
        ++m.unique[idx];
        ++outOfOrder_;
        break;
      case bench::SequenceTracker::Verdict::kDuplicate:
        ++duplicates_;
        return;
    }
    ++delivered_;
    ++windowDelivered_;
    const uint64_t latency = recvNs > payload->intendedNs ? recvNs - payload->intendedNs : 0;
    latency_.record(latency);
    windowLatency_.record(latency);
    return;
  }

  Churner* c = churner(conn.id());
  if (!c || !payload) return;
  ++churnReceived_;
  if (payload->step == kChurnStep) {
    if (payload->publisher == static_cast<uint32_t>(conn.id() - kChurnIdBase)) {
      c->echoed = true;
      if (c->awaitingEcho) {
        c->awaitingEcho = false;
        timers_.push({monotonicNs(), conn.id(), kTimerLeave});  // leave outside this callback
      }
    }
    return;
  }
  if (c->room == kOwnRoom || payload->publisher >= publishers_.size() ||
      publishers_[payload->publisher].room != c->room) {
    ++foreign_;
    return;
  }
  // From the first message it hears, a member hears every later one of that publisher.
  auto [it, first] = c->lastSeq.try_emplace(payload->publisher, payload->seq);
  if (first) return;
  if (payload->seq <= it->second) {
    ++churnOrderViolations_;
    setError(firstChurnError_, "churner " + std::to_string(conn.id() - kChurnIdBase) +
                                   ": publisher " + std::to_string(payload->publisher) + " seq " +
                                   std::to_string(payload->seq) + " after " +
                                   std::to_string(it->second));
  } else if (payload->seq != it->second + 1) {
    churnGaps_ += payload->seq - it->second - 1;
    setError(firstChurnError_, "churner " + std::to_string(conn.id() - kChurnIdBase) +
                                   ": publisher " + std::to_string(payload->publisher) +
                                   " jumped from seq " + std::to_string(it->second) + " to " +
                                   std::to_string(payload->seq));
  }
  it->second = std::max(it->second, payload->seq);
}

void SoakDriver::onClosed(SoakConnection& conn, bool clean, const std::string& why) {
  if (isStable(conn.id())) {
    Member& m = members_[conn.id()];
    const bool wasOpen = m.open;
    m.open = false;
    if (closingStable_) {
      if (!clean) {
        ++stableCloseErrors_;
        setError(firstStableDisconnect_,
                 "closing stable member " + std::to_string(conn.id()) + ": " + why);
      }
      return;
    }
    if (loadStartNs_ == 0 && !wasOpen) {
      setError(setupError_, "stable member " + std::to_string(conn.id()) + ": " + why);
      return;
    }
    ++stableDisconnects_;
    setError(firstStableDisconnect_, "stable member " + std::to_string(conn.id()) + ": " + why);
    if (loadStartNs_ == 0) setError(setupError_, firstStableDisconnect_);
    return;
  }

  auto it = churners_.find(conn.id());
  if (it == churners_.end()) return;
  Churner& c = it->second;
  const std::string name = "churner " + std::to_string(conn.id() - kChurnIdBase);
  if (clean) {
    ++churnCleanCloses_;
  } else if (c.timedOut) {
    // Counted where the timeout fired.
  } else if (c.leaving) {
    if (c.leave == Churner::Leave::kGraceful) {
      ++churnCloseErrors_;
      setError(firstChurnError_, name + ": close handshake: " + why);
    }
  } else if (!c.opened) {
    ++churnFailed_;
    setError(firstChurnError_, name + ": " + why);
  } else {
    ++churnFailed_;
    setError(firstChurnError_, name + " lost its connection: " + why);
  }
  graveyard_.push_back(std::move(c.conn));
  churners_.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Output.

void SoakDriver::status(uint64_t now, bool final) {
  uint64_t sent = 0;
  for (const auto& p : publishers_) sent += p.sent;
  uint64_t expected = 0, unique = 0;
  for (const auto& m : members_) {
    const auto& pubs = roomPublishers_[m.room];
    for (size_t i = 0; i < pubs.size(); ++i) {
      expected += publishers_[pubs[i]].sent;
      unique += m.unique[i];
    }
  }
  const double t = static_cast<double>(now - loadStartNs_) / 1e9;
  std::fprintf(
      stderr,
      "soak: %s t=%.0fs sent=%llu delivered=%llu outstanding=%llu dup=%llu ooo=%llu "
      "p50=%.2fms p99=%.2fms churn started=%llu opened=%llu live=%zu failed=%llu "
      "stable_disconnects=%llu%s\n",
      final ? "end" : "", t, static_cast<unsigned long long>(sent),
      static_cast<unsigned long long>(delivered_),
      static_cast<unsigned long long>(expected - unique),
      static_cast<unsigned long long>(duplicates_), static_cast<unsigned long long>(outOfOrder_),
      static_cast<double>(windowLatency_.valueAtPercentile(50)) / 1e6,
      static_cast<double>(windowLatency_.valueAtPercentile(99)) / 1e6,
      static_cast<unsigned long long>(churnStarted_), static_cast<unsigned long long>(churnOpened_),
      churners_.size(), static_cast<unsigned long long>(churnFailed_),
      static_cast<unsigned long long>(stableDisconnects_), v2_->statusText().c_str());
  windowLatency_.reset();
  windowDelivered_ = 0;
  lastStatusNs_ = now;
}

int SoakDriver::writeReport() {
  uint64_t sent = 0, expected = 0, unique = 0;
  for (const auto& p : publishers_) sent += p.sent;
  for (const auto& m : members_) {
    const auto& pubs = roomPublishers_[m.room];
    for (size_t i = 0; i < pubs.size(); ++i) {
      expected += publishers_[pubs[i]].sent;
      unique += std::min(m.unique[i], publishers_[pubs[i]].sent);
    }
  }
  const uint64_t lost = expected - unique;

  std::vector<std::string> failures;
  auto check = [&](uint64_t value, const char* what) {
    if (value > 0) failures.push_back(std::to_string(value) + " " + what);
  };
  if (!setupError_.empty()) failures.push_back("setup: " + setupError_);
  check(lost, "messages lost for stable members");
  check(duplicates_, "duplicate deliveries to stable members");
  check(outOfOrder_, "out-of-order deliveries to stable members");
  check(foreign_, "messages delivered to a member of another room");
  check(stableDisconnects_, "stable members disconnected during the run");
  check(stableCloseErrors_, "stable members whose close handshake failed");
  check(churnFailed_, "churners that failed to connect or lost their connection");
  check(churnCloseErrors_, "churner close handshakes that ended badly");
  check(churnCloseTimeouts_, "churner close handshakes that timed out");
  check(churnGaps_, "messages missed by connected churners (gaps)");
  check(churnOrderViolations_, "repeated or reordered messages at churners");
  check(churnEchoMissing_, "churner messages that never came back to their sender");
  if (sent == 0 && setupError_.empty()) failures.push_back("no message was sent");
  if (setupError_.empty()) v2_->addFailures(failures);

  bench::JsonWriter w;
  w.beginObject();
  w.field("passed", failures.empty());
  w.key("failures").beginArray();
  for (const auto& f : failures) w.value(f);
  w.endArray();
  w.field("duration_s",
          loadEndNs_ > loadStartNs_ ? static_cast<double>(loadEndNs_ - loadStartNs_) / 1e9 : 0.0);
  w.field("nodes", static_cast<unsigned long>(opt_.targets.size()));
  w.field("rooms", opt_.rooms);
  w.field("stable_members", static_cast<unsigned long>(members_.size()));
  w.field("publishers", static_cast<unsigned long>(publishers_.size()));
  w.field("pub_rate", opt_.pubRate);
  w.field("payload_bytes", static_cast<unsigned long>(opt_.payloadSize));
  w.key("stable").beginObject();
  w.field("sent", static_cast<unsigned long long>(sent));
  w.field("expected_deliveries", static_cast<unsigned long long>(expected));
  w.field("delivered", static_cast<unsigned long long>(unique));
  w.field("lost", static_cast<unsigned long long>(lost));
  w.field("duplicates", static_cast<unsigned long long>(duplicates_));
  w.field("out_of_order", static_cast<unsigned long long>(outOfOrder_));
  w.field("foreign", static_cast<unsigned long long>(foreign_));
  w.field("unparsed", static_cast<unsigned long long>(unparsed_));
  w.field("disconnects", static_cast<unsigned long long>(stableDisconnects_));
  w.field("close_errors", static_cast<unsigned long long>(stableCloseErrors_));
  w.field("first_disconnect", firstStableDisconnect_);
  w.field("churn_messages_seen", static_cast<unsigned long long>(churnSeenByStable_));
  w.endObject();
  w.key("latency_ms").beginObject();
  w.field("count", static_cast<unsigned long long>(latency_.count()));
  w.field("p50", static_cast<double>(latency_.valueAtPercentile(50)) / 1e6);
  w.field("p90", static_cast<double>(latency_.valueAtPercentile(90)) / 1e6);
  w.field("p99", static_cast<double>(latency_.valueAtPercentile(99)) / 1e6);
  w.field("p999", static_cast<double>(latency_.valueAtPercentile(99.9)) / 1e6);
  w.field("max", static_cast<double>(latency_.max()) / 1e6);
  w.endObject();
  w.key("churn").beginObject();
  w.field("rate", opt_.churnRate);
  w.field("started", static_cast<unsigned long long>(churnStarted_));
  w.field("opened", static_cast<unsigned long long>(churnOpened_));
  w.field("own_room", static_cast<unsigned long long>(churnEphemeral_));
  w.field("failed", static_cast<unsigned long long>(churnFailed_));
  w.field("clean_closes", static_cast<unsigned long long>(churnCleanCloses_));
  w.field("fin_closes", static_cast<unsigned long long>(churnFins_));
  w.field("reset_closes", static_cast<unsigned long long>(churnResets_));
  w.field("early_aborts", static_cast<unsigned long long>(churnEarlyAborts_));
  w.field("close_errors", static_cast<unsigned long long>(churnCloseErrors_));
  w.field("close_timeouts", static_cast<unsigned long long>(churnCloseTimeouts_));
  w.field("gaps", static_cast<unsigned long long>(churnGaps_));
  w.field("order_violations", static_cast<unsigned long long>(churnOrderViolations_));
  w.field("echo_missing", static_cast<unsigned long long>(churnEchoMissing_));
  w.field("messages_sent", static_cast<unsigned long long>(churnSent_));
  w.field("messages_received", static_cast<unsigned long long>(churnReceived_));
  w.field("first_error", firstChurnError_);
  w.endObject();
  if (v2_->enabled()) v2_->writeReport(w);
  w.endObject();

  if (opt_.reportPath.empty()) {
    std::printf("%s\n", w.str().c_str());
  } else {
    std::ofstream out(opt_.reportPath);
    out << w.str() << "\n";
  }
  for (const auto& f : failures) std::fprintf(stderr, "soak: FAILED: %s\n", f.c_str());
  if (!firstChurnError_.empty()) {
    std::fprintf(stderr, "soak: first churn error: %s\n", firstChurnError_.c_str());
  }
  if (!firstStableDisconnect_.empty()) {
    std::fprintf(stderr, "soak: first stable disconnect: %s\n", firstStableDisconnect_.c_str());
  }
  std::printf("DONE %s\n", failures.empty() ? "passed" : "failed");
  std::fflush(stdout);
  if (!setupError_.empty()) return 2;
  return failures.empty() ? 0 : 3;
}

}  // namespace heimdallr::soak
