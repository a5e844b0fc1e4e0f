#include "Probes.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>

#include "Clock.h"
#include "CpuMeter.h"
#include "Histogram.h"
#include "JsonWriter.h"
#include "Payload.h"

namespace heimdallr::bench {
namespace {

constexpr size_t kScratchBytes = 256 * 1024;
constexpr int kMaxEvents = 256;
constexpr uint64_t kMaxPollNs = 5'000'000;
constexpr uint64_t kNsPerSec = 1'000'000'000ull;

uint64_t secondsToNs(double s) { return static_cast<uint64_t>(std::max(0.0, s) * 1e9); }
double nsToMs(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

/// CPU at one instant: the watched processes' schedstat run time (nanosecond resolution: the
/// windows here are milliseconds long), this process' rusage, and both run-queue waits.
struct Cpu {
  uint64_t wallNs = 0;
  double self = 0, selfWait = 0;
  std::vector<double> server, serverWait;

  static Cpu take(const std::vector<pid_t>& pids) {
    Cpu c;
    c.wallNs = monotonicNs();
    c.self = selfCpuSeconds();
    c.selfWait = runQueueWaitSeconds(0);
    for (pid_t pid : pids) {
      double s = scheduledCpuSeconds(pid);
      if (s < 0) s = processCpuSeconds(pid);
      c.server.push_back(s);
      c.serverWait.push_back(runQueueWaitSeconds(pid));
    }
    return c;
  }
};

/// Sums of differences over one or more windows; -1 once anything was unreadable.
struct CpuDelta {
  double window = 0, self = 0, selfWait = 0, server = 0, serverWait = 0;
  std::vector<double> byPid;
  uint32_t windows = 0;

  void add(const Cpu& a, const Cpu& b) {
    ++windows;
    window += static_cast<double>(b.wallNs - a.wallNs) / 1e9;
    self += b.self - a.self;
    selfWait = (selfWait < 0 || a.selfWait < 0 || b.selfWait < 0)
                   ? -1
                   : selfWait + b.selfWait - a.selfWait;
    byPid.resize(a.server.size(), 0);
    for (size_t i = 0; i < a.server.size() && i < b.server.size(); ++i) {
      byPid[i] = (byPid[i] < 0 || a.server[i] < 0 || b.server[i] < 0)
                     ? -1
                     : byPid[i] + b.server[i] - a.server[i];
      server = (server < 0 || byPid[i] < 0) ? -1 : server + b.server[i] - a.server[i];
      const bool waitKnown = serverWait >= 0 && a.serverWait[i] >= 0 && b.serverWait[i] >= 0;
      serverWait = waitKnown ? serverWait + b.serverWait[i] - a.serverWait[i] : -1;
    }
  }
};

void writeCpu(JsonWriter& w, std::string_view key, const CpuDelta& d) {
  w.key(key)
      .beginObject()
      .field("windows", d.windows)
      .field("window_s", d.window)
      .field("server_cpu_s", d.server)
      .field("server_runq_wait_s", d.serverWait)
      .field("gen_cpu_s", d.self)
      .field("gen_runq_wait_s", d.selfWait);
  w.key("server_cpu_s_by_pid").beginArray();
  for (double v : d.byPid) w.value(v);
  w.endArray();
  w.endObject();
}

void writeHist(JsonWriter& w, std::string_view key, const Histogram& h) {
  w.key(key)
      .beginObject()
      .field("count", static_cast<unsigned long long>(h.count()))
      .field("mean", h.mean() / 1e6)
      .field("min", nsToMs(h.min()))
      .field("p50", nsToMs(h.valueAtPercentile(50)))
      .field("p90", nsToMs(h.valueAtPercentile(90)))
      .field("p99", nsToMs(h.valueAtPercentile(99)))
      .field("max", nsToMs(h.max()))
      .endObject();
}

void writeCommon(JsonWriter& w, const ProbeOptions& o, const char* probe) {
  w.field("label", o.label).field("probe", probe).field("protocol", protocolName(o.protocol));
  w.key("targets").beginArray();
  for (const auto& t : o.targets) w.value(t.text);
  w.endArray();
  w.field("room", o.room);
}

/// One epoll set and the probe's connections; frames go to `onFrame`. Any connection that closes
/// without being dropped on purpose ends every wait (these probes expect none).
class Loop final : public ClientConnection::Listener {
 public:
  using FrameFn = std::function<void(ClientConnection&, std::string_view, uint64_t)>;

  explicit Loop(const ProbeOptions& o) : opt_(o), scratch_(kScratchBytes) {
    epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
  }
  ~Loop() override {
    conns_.clear();
    if (epollFd_ >= 0) ::close(epollFd_);
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  bool ok() const { return epollFd_ >= 0; }

  ClientConnection& add(const Endpoint& target, const std::string& path) {
    const auto id = static_cast<uint32_t>(conns_.size());
    conns_.push_back(std::make_unique<ClientConnection>(id, opt_.protocol, target, std::nullopt,
                                                        path, *this, epollFd_));
    openedNs_.push_back(0);
    dropped_.push_back(false);
    return *conns_.back();
  }

  uint64_t openedAt(const ClientConnection& c) const { return openedNs_[c.id()]; }
  bool isOpen(const ClientConnection& c) const {
    return c.state() == ClientConnection::State::kOpen;
  }
  uint32_t openCount() const { return opened_; }

  void drop(ClientConnection& c) {
    dropped_[c.id()] = true;
    c.drop();
  }

  void poll(uint64_t untilNs) {
    const uint64_t now = monotonicNs();
    const uint64_t wait = untilNs > now ? std::min(untilNs - now, kMaxPollNs) : 0;
    timespec ts{static_cast<time_t>(wait / kNsPerSec), static_cast<long>(wait % kNsPerSec)};
    epoll_event events[kMaxEvents];
    const int n = ::epoll_pwait2(epollFd_, events, kMaxEvents, &ts, nullptr);
    for (int i = 0; i < n; ++i) {
      static_cast<ClientConnection*>(events[i].data.ptr)
          ->onEvent(events[i].events, scratch_.data(), scratch_.size());
    }
  }

  /// Polls until done() (true), the timeout or an unexpected close (false).
  bool waitFor(const std::function<bool()>& done, double timeoutS) {
    const uint64_t deadline = monotonicNs() + secondsToNs(timeoutS);
    while (!done()) {
      if (closed > 0 || monotonicNs() >= deadline) return false;
      poll(deadline);
    }
    return true;
  }

  void sleepFor(double s) {
    const uint64_t until = monotonicNs() + secondsToNs(s);
    while (monotonicNs() < until) poll(until);
  }

  FrameFn onFrame;
  uint64_t closed = 0;
  std::string firstClose;

 private:
  void onOpen(ClientConnection& c) override {
    openedNs_[c.id()] = monotonicNs();
    ++opened_;
  }
  void onMessage(ClientConnection& c, std::string_view payload, uint64_t recvNs) override {
    if (onFrame) onFrame(c, payload, recvNs);
  }
  void onClosed(ClientConnection& c, bool, const std::string& why) override {
    if (dropped_[c.id()]) return;
    ++closed;
    if (firstClose.empty()) firstClose = c.target().text + ": " + why;
  }

  const ProbeOptions& opt_;
  int epollFd_ = -1;
  std::vector<char> scratch_;
  std::vector<std::unique_ptr<ClientConnection>> conns_;
  std::vector<uint64_t> openedNs_;
  std::vector<bool> dropped_;
  uint32_t opened_ = 0;
};

std::string failure(const Loop& loop, const std::string& what) {
  return loop.closed ? what + ": a connection closed: " + loop.firstClose : what + ": timed out";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// presence

int runPresenceProbe(const ProbeOptions& opt) {
  Loop loop(opt);
  const uint32_t n = std::max<uint32_t>(1, opt.members);
  const std::string path = requestPath(Protocol::kV2, opt.room);
  std::vector<ClientConnection*> members;
  members.reserve(n);
  for (uint32_t i = 0; i < n; ++i)
    members.push_back(&loop.add(opt.targets[i % opt.targets.size()], path));

  std::string error, firstReplyError;
  // The join phase.
  std::vector<uint64_t> joinId(n, 0), joinSentNs(n, 0), joinReplyNs(n, 0);
  std::vector<size_t> joinMembers(n, 0);
  uint32_t joinReplies = 0, joinErrors = 0;
  uint64_t joinReplyBytes = 0;
  // The presence phase: one command outstanding at a time.
  uint32_t waitConn = 0;
  uint64_t waitId = 0, gotNs = 0;
  size_t gotMembers = 0;
  bool gotOk = false;
  bool joinPhase = true;
  loop.onFrame = [&](ClientConnection& c, std::string_view frame, uint64_t ns) {
    const V2Frame f = parseV2Frame(frame);
    if (f.kind != V2Frame::Kind::kReply) return;
    const uint32_t i = c.id();
    if (joinPhase) {
      if (f.id != joinId[i] || joinReplyNs[i] != 0) return;
      joinReplyNs[i] = ns;
      joinMembers[i] = countOccurrences(frame, "\"node\":");
      joinReplyBytes += frame.size();
      ++joinReplies;
      if (!f.ok) {
        ++joinErrors;
        if (firstReplyError.empty()) firstReplyError = std::string(frame.substr(0, 200));
      }
      return;
    }
    if (i != waitConn || f.id != waitId) return;
    gotNs = ns;
    gotOk = f.ok;
    gotMembers = countOccurrences(frame, "\"node\":");
    if (!f.ok && firstReplyError.empty()) firstReplyError = std::string(frame.substr(0, 200));
  };

  const uint64_t connectStart = monotonicNs();
  const uint64_t connectDeadline = connectStart + secondsToNs(opt.timeoutS + n / 100.0);
  uint32_t started = 0;
  while (loop.ok() && loop.openCount() < n) {
    const uint64_t now = monotonicNs();
    if (loop.closed || now >= connectDeadline) {
      error =
          failure(loop, "connect " + std::to_string(loop.openCount()) + " of " + std::to_string(n));
      break;
    }
    while (started < n && started - loop.openCount() < opt.connectConcurrency)
      members[started++]->start();
    loop.poll(now + kMaxPollNs);
  }
  const double connectS = static_cast<double>(monotonicNs() - connectStart) / 1e9;

  Histogram joinLat, presenceLat;
  CpuDelta joinCpu, presenceCpu;
  uint64_t joinStart = 0, joinEnd = 0;
  size_t minJoinMembers = SIZE_MAX, maxJoinMembers = 0, lastJoinMembers = 0;
  size_t minPresence = SIZE_MAX, maxPresence = 0;
  uint32_t presenceMismatches = 0, presenceErrors = 0;
  if (error.empty()) {
    const Cpu a = Cpu::take(opt.watchPids);
    joinStart = monotonicNs();
    for (uint32_t i = 0; i < n; ++i) {
      joinId[i] = members[i]->takeCommandId();
      joinSentNs[i] = monotonicNs();
      members[i]->sendText(v2Join(joinId[i], opt.room));
    }
    if (!loop.waitFor([&] { return joinReplies == n; }, opt.timeoutS + n / 100.0)) {
      error =
          failure(loop, "join replies " + std::to_string(joinReplies) + " of " + std::to_string(n));
    }
    const Cpu b = Cpu::take(opt.watchPids);
    joinCpu.add(a, b);
    for (uint32_t i = 0; i < n; ++i) {
      if (!joinReplyNs[i]) continue;
      joinLat.record(joinReplyNs[i] - joinSentNs[i]);
      minJoinMembers = std::min(minJoinMembers, joinMembers[i]);
      maxJoinMembers = std::max(maxJoinMembers, joinMembers[i]);
      if (joinReplyNs[i] >= joinEnd) {
        joinEnd = joinReplyNs[i];
        lastJoinMembers = joinMembers[i];
      }
    }
  }
  if (error.empty() && joinErrors) error = "join refused: " + firstReplyError;

  if (error.empty()) {
    joinPhase = false;
    Cpu a = Cpu::take(opt.watchPids);
    for (uint32_t k = 0; k < opt.warmupReps + opt.calls; ++k) {
      if (k == opt.warmupReps) a = Cpu::take(opt.watchPids);
      ClientConnection& c = *members[k % n];  // members in turn: on every node
      waitConn = c.id();
      waitId = c.takeCommandId();
      gotNs = 0;
      const uint64_t sent = monotonicNs();
      c.sendText(v2Presence(waitId, opt.room));
      if (!loop.waitFor([&] { return gotNs != 0; }, opt.timeoutS)) {
        error = failure(loop, "presence call " + std::to_string(k));
        break;
      }
      if (k < opt.warmupReps) continue;
      presenceLat.record(gotNs - sent);
      if (!gotOk) {
        ++presenceErrors;
        continue;
      }
      minPresence = std::min(minPresence, gotMembers);
      maxPresence = std::max(maxPresence, gotMembers);
      if (gotMembers != n) ++presenceMismatches;
    }
    presenceCpu.add(a, Cpu::take(opt.watchPids));
  }
  if (error.empty() && presenceErrors) error = "presence refused: " + firstReplyError;

  const int exitCode = error.empty() ? 0 : 3;
  JsonWriter w;
  w.beginObject();
  writeCommon(w, opt, "presence");
  w.field("members", n)
      .field("connect_s", connectS)
      .field("connected", loop.openCount())
      .field("join_replies", joinReplies)
      .field("join_errors", joinErrors)
      .field("join_wall_s",
             joinEnd > joinStart ? static_cast<double>(joinEnd - joinStart) / 1e9 : 0.0)
      .field("join_reply_bytes", static_cast<unsigned long long>(joinReplyBytes))
      .field("join_members_min", static_cast<unsigned long long>(joinReplies ? minJoinMembers : 0))
      .field("join_members_max", static_cast<unsigned long long>(maxJoinMembers))
      .field("join_members_last", static_cast<unsigned long long>(lastJoinMembers));
  writeHist(w, "join_ms", joinLat);
  writeCpu(w, "join_cpu", joinCpu);
  w.field("calls", opt.calls).field("warmup_calls", opt.warmupReps);
  writeHist(w, "presence_ms", presenceLat);
  w.field("presence_members_min",
          static_cast<unsigned long long>(presenceLat.count() ? minPresence : 0))
      .field("presence_members_max", static_cast<unsigned long long>(maxPresence))
      .field("presence_mismatches", presenceMismatches)
      .field("presence_errors", presenceErrors);
  writeCpu(w, "presence_cpu", presenceCpu);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  w.field("gen_max_rss_kb", static_cast<long long>(ru.ru_maxrss))
      .field("exit_code", exitCode)
      .field("error", error)
      .endObject();
  std::printf("%s\n", w.str().c_str());
  std::fflush(stdout);
  return exitCode;
}

// ---------------------------------------------------------------------------------------------
// recovery

int runRecoveryProbe(const ProbeOptions& opt) {
  Loop loop(opt);
  const bool v2 = opt.protocol == Protocol::kV2;
  const std::string path = requestPath(opt.protocol, opt.room);
  ClientConnection& pub = loop.add(opt.targets[0], path);
  if (v2) {
    pub.v2Room = opt.room;
    pub.v2AutoJoin = true;
  }
  ClientConnection* rec = &loop.add(opt.targets[0], path);
  if (v2) rec->v2Room = opt.room;  // joins by itself, to read the position
  rec->trackSocketIoOffset = !v2;

  std::string error;
  // The publisher's view.
  uint64_t sent = 0, pubEchoes = 0, pubAcks = 0, pubErrors = 0;
  std::string firstPubError;
  // The member's view: its position, the live messages, the join reply (v2) or the recovered
  // events (Socket.IO).
  V2Position pos;
  std::string sioPid, sioOffset;
  uint64_t joinId = 0, joinReplyNs = 0;
  std::string joinReply;
  uint64_t lastLiveSeq = UINT64_MAX;
  bool recovering = false;
  uint64_t expectSeq = 0, recoveredCount = 0, recoveredBad = 0, lastRecoveredNs = 0;

  loop.onFrame = [&](ClientConnection& c, std::string_view frame, uint64_t ns) {
    if (&c == &pub) {
      if (!v2) {
        if (decodePayload(frame)) ++pubEchoes;  // Socket.IO: the unwrapped payload
        return;
      }
      const V2Frame f = parseV2Frame(frame);
      if (f.kind == V2Frame::Kind::kMessage) {
        ++pubEchoes;
      } else if (f.kind == V2Frame::Kind::kReply) {
        if (f.ok) {
          ++pubAcks;
        } else {
          ++pubErrors;
          if (firstPubError.empty()) firstPubError = std::string(frame.substr(0, 200));
        }
      }
      return;
    }
    if (&c != rec) return;  // a dropped member's last bytes
    if (v2) {
      const V2Frame f = parseV2Frame(frame);
      if (f.kind == V2Frame::Kind::kReply && f.id == joinId) {
        joinReply.assign(frame);
        joinReplyNs = ns;
      } else if (f.kind == V2Frame::Kind::kMessage) {
        if (auto p = decodePayload(f.data)) lastLiveSeq = p->seq;
        pos.offset = f.offset;
      }
      return;
    }
    // Socket.IO: `frame` is the event's payload; the connection kept the event's offset.
    if (!c.socketIoLastOffset.empty()) sioOffset = c.socketIoLastOffset;
    const auto p = decodePayload(frame);
    if (!p) return;
    if (!recovering) {
      lastLiveSeq = p->seq;
      return;
    }
    if (p->seq == expectSeq) {
      ++expectSeq;
    } else {
      ++recoveredBad;
    }
    ++recoveredCount;
    lastRecoveredNs = ns;
  };

  std::string payloadBuf;
  auto publish = [&](uint64_t seq) {
    encodePayload({monotonicNs(), 0, seq, 0}, opt.payloadSize, payloadBuf);
    if (pub.sendMessage(payloadBuf)) ++sent;
  };
  auto pubCaughtUp = [&] { return pubEchoes >= sent && (!v2 || pubAcks + pubErrors >= sent); };

  // Set-up: both connected and in the room; the member knows its position.
  if (!loop.ok()) error = "epoll_create1 failed";
  if (error.empty()) {
    pub.start();
    rec->start();
    if (!loop.waitFor([&] { return loop.isOpen(pub) && loop.isOpen(*rec); }, opt.timeoutS)) {
      error = failure(loop, "set-up connect");
    }
  }
  if (error.empty() && v2) {
    joinId = rec->takeCommandId();
    rec->sendText(v2Join(joinId, opt.room));
    if (!loop.waitFor([&] { return joinReplyNs != 0; }, opt.timeoutS)) {
      error = failure(loop, "set-up join");
    } else if (parseV2Frame(joinReply).ok) {
      pos.epoch = std::string(jsonStringField(joinReply, "epoch").value_or(""));
      pos.offset = jsonUintField(joinReply, "offset").value_or(0);
      if (pos.epoch.empty())
        error = "set-up join: the room keeps no history: " + joinReply.substr(0, 200);
    } else {
      error = "set-up join refused: " + joinReply.substr(0, 200);
    }
  }
  if (error.empty() && !v2) sioPid = rec->socketIoPid;

  struct Cycle {
    uint32_t target = 0;
    double requestMs = 0, totalMs = 0;
    bool recovered = false, inOrder = false;
    uint64_t messages = 0;
  };
  std::vector<Cycle> cycles;
  Histogram requestLat, totalLat;
  CpuDelta recoveryCpu, runCpu;
  uint32_t failed = 0;
  std::string firstFailure;
  uint64_t seq = 0;
  Cpu runStart = Cpu::take(opt.watchPids);
  for (uint32_t rep = 0; error.empty() && rep < opt.warmupReps + opt.reps; ++rep) {
    const bool measured = rep >= opt.warmupReps;
    if (rep == opt.warmupReps) runStart = Cpu::take(opt.watchPids);
    // 1. A marker the member sees live: its position.
    const uint64_t marker = seq++;
    publish(marker);
    if (!loop.waitFor([&] { return lastLiveSeq == marker && pubCaughtUp(); }, opt.timeoutS)) {
      error = failure(loop, "cycle " + std::to_string(rep) + ": marker");
      break;
    }
    // 2. The member's network goes away; 3. it misses `missed` messages.
    loop.drop(*rec);
    for (uint32_t k = 0; k < opt.missed; ++k) publish(seq++);
    if (!loop.waitFor(pubCaughtUp, opt.timeoutS)) {
      error = failure(loop, "cycle " + std::to_string(rep) + ": publishing");
      break;
    }
    if (pubErrors) {
      error = "publish refused: " + firstPubError;
      break;
    }
    loop.sleepFor(opt.pauseS);
    // 4. It comes back, to the next node in turn, and asks for what it missed.
    const uint32_t targetIndex = (rep + 1) % static_cast<uint32_t>(opt.targets.size());
    ClientConnection& next = loop.add(opt.targets[targetIndex], path);
    if (v2) {
      next.v2Room = opt.room;
    } else {
      next.socketIoConnectPacket = socketIoRecoveryConnect(sioPid, sioOffset);
      next.trackSocketIoOffset = true;
    }
    rec = &next;
    joinReply.clear();
    joinReplyNs = 0;
    recovering = !v2;
    recoveredCount = recoveredBad = lastRecoveredNs = 0;
    expectSeq = marker + 1;
    Cycle cy;
    cy.target = targetIndex;
    const Cpu a = Cpu::take(opt.watchPids);
    const uint64_t t0 = monotonicNs();
    next.start();
    uint64_t tRequest = 0, tDone = 0;
    if (v2) {
      if (!loop.waitFor([&] { return loop.isOpen(next); }, opt.timeoutS)) {
        error = failure(loop, "cycle " + std::to_string(rep) + ": reconnect");
        break;
      }
      joinId = next.takeCommandId();
      tRequest = monotonicNs();
      next.sendText(v2Join(joinId, opt.room, &pos));
      if (!loop.waitFor([&] { return joinReplyNs != 0; }, opt.timeoutS)) {
        error = failure(loop, "cycle " + std::to_string(rep) + ": join with since");
        break;
      }
      tDone = joinReplyNs;
      uint64_t expect = marker + 1;
      bool inOrder = true;
      cy.messages = forEachV2MessageData(joinReply, [&](std::string_view data) {
        const auto p = decodePayload(data);
        if (!p || p->seq != expect) inOrder = false;
        if (p) expect = p->seq + 1;
      });
      cy.inOrder = inOrder;
      cy.recovered =
          parseV2Frame(joinReply).ok && joinReply.find("\"recovered\":true") != std::string::npos;
      if (auto e = jsonStringField(joinReply, "epoch")) pos.epoch = std::string(*e);
      if (auto o = jsonUintField(joinReply, "offset")) pos.offset = *o;
      if (!cy.recovered && firstFailure.empty()) firstFailure = joinReply.substr(0, 200);
    } else {
      // The recovered packets come before or with the CONNECT reply; a new pid means none come.
      const bool done = loop.waitFor(
          [&] {
            return loop.isOpen(next) &&
                   (recoveredCount >= opt.missed || next.socketIoPid != sioPid);
          },
          opt.timeoutS);
      if (!done) {
        error = failure(loop, "cycle " + std::to_string(rep) + ": reconnect with pid/offset");
        break;
      }
      tRequest = next.socketIoConnectSentNs;
      tDone = std::max(loop.openedAt(next), lastRecoveredNs);
      cy.messages = recoveredCount;
      cy.inOrder = recoveredBad == 0;
      cy.recovered = next.socketIoPid == sioPid;
      if (!cy.recovered && firstFailure.empty())
        firstFailure = "socket.io gave a new session (pid)";
      sioPid = next.socketIoPid;
      recovering = false;
    }
    const Cpu b = Cpu::take(opt.watchPids);
    cy.requestMs = nsToMs(tDone - tRequest);
    cy.totalMs = nsToMs(tDone - t0);
    const bool pass = cy.recovered && cy.inOrder && cy.messages == opt.missed;
    if (!pass && firstFailure.empty()) {
      firstFailure = std::to_string(cy.messages) + " messages recovered, " +
                     (cy.inOrder ? "in order" : "not in order");
    }
    if (!measured) continue;
    if (!pass) ++failed;
    requestLat.record(tDone - tRequest);
    totalLat.record(tDone - t0);
    recoveryCpu.add(a, b);
    cycles.push_back(cy);
  }
  if (error.empty()) runCpu.add(runStart, Cpu::take(opt.watchPids));

  const int exitCode = error.empty() && failed == 0 ? 0 : 3;
  JsonWriter w;
  w.beginObject();
  writeCommon(w, opt, "recovery");
  w.field("missed", opt.missed)
      .field("reps", opt.reps)
      .field("warmup_reps", opt.warmupReps)
      .field("pause_s", opt.pauseS)
      .field("payload_bytes",
             static_cast<unsigned long long>(std::max(opt.payloadSize, kPayloadHeaderSize)))
      .field("measured", static_cast<unsigned long long>(cycles.size()))
      .field("failed", failed)
      .field("first_failure", firstFailure);
  writeHist(w, "request_to_recovered_ms", requestLat);
  writeHist(w, "reconnect_to_recovered_ms", totalLat);
  w.key("cycles").beginArray();
  for (const Cycle& c : cycles) {
    w.beginObject()
        .field("target", c.target)
        .field("request_ms", c.requestMs)
        .field("total_ms", c.totalMs)
        .field("recovered", c.recovered)
        .field("in_order", c.inOrder)
        .field("messages", static_cast<unsigned long long>(c.messages))
        .endObject();
  }
  w.endArray();
  writeCpu(w, "recovery_cpu", recoveryCpu);
  writeCpu(w, "run_cpu", runCpu);
  w.field("published", static_cast<unsigned long long>(sent))
      .field("exit_code", exitCode)
      .field("error", error)
      .endObject();
  std::printf("%s\n", w.str().c_str());
  std::fflush(stdout);
  return exitCode;
}

}  // namespace heimdallr::bench
