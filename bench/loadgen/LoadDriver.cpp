#include "LoadDriver.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>

#include "Clock.h"
#include "JsonWriter.h"
#include "Payload.h"

namespace heimdallr::bench {
namespace {

constexpr size_t kScratchBytes = 256 * 1024;
constexpr int kMaxEvents = 512;
constexpr uint64_t kMaxPollNs = 10'000'000;  // wake at least every 10 ms
constexpr uint64_t kStepLeadNs = 2'000'000;  // a step's schedule starts 2 ms after it is set up
constexpr uint64_t kNsPerSec = 1'000'000'000ull;
char stdinTag;  // epoll data.ptr for standard input (idle mode: closing it ends the hold)

uint64_t secondsToNs(double s) { return static_cast<uint64_t>(std::max(0.0, s) * 1e9); }
double nsToMs(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

LoadDriver::LoadDriver(DriverOptions options) : opt_(std::move(options)), scratch_(kScratchBytes) {
  epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
}

LoadDriver::~LoadDriver() {
  conns_.clear();
  if (epollFd_ >= 0) ::close(epollFd_);
}

void LoadDriver::buildConnections() {
  const uint32_t pubs =
      opt_.pubsSeparate ? opt_.pubsPerRoom : std::min(opt_.pubsPerRoom, opt_.roomSize);
  opt_.pubsPerRoom = pubs;
  ClientConnection::Listener& listener = *this;
  auto makeConn = [&](uint32_t room, const Endpoint& target) {
    const uint32_t id = static_cast<uint32_t>(conns_.size());
    std::optional<in_addr> source;
    if (!opt_.sources.empty()) source = opt_.sources[id % opt_.sources.size()];
    const std::string name = opt_.roomPrefix + "-" + std::to_string(room);
    conns_.push_back(std::make_unique<ClientConnection>(
        id, opt_.protocol, target, source, requestPath(opt_.protocol, name) + opt_.query, listener,
        epollFd_));
    ClientConnection& c = *conns_.back();
    c.room = room;
    if (opt_.protocol == Protocol::kV2) {
      c.v2Room = name;  // joined before onOpen(): a member is open once its join is answered
      c.v2AutoJoin = true;
    }
    return &c;
  };
  for (uint32_t r = 0; r < opt_.rooms; ++r) {
    for (uint32_t i = 0; i < opt_.roomSize; ++i) {
      ClientConnection* c = makeConn(r, opt_.targets[conns_.size() % opt_.targets.size()]);
      c->records = opt_.mode == DriverOptions::Mode::kRun;
      if (c->records) c->trackers.resize(pubs);
      if (opt_.mode == DriverOptions::Mode::kRun && !opt_.pubsSeparate && i < pubs) {
        c->publisher = static_cast<int64_t>(r) * pubs + i;
        publishers_.push_back({c, static_cast<uint32_t>(c->publisher), 0});
      }
    }
    if (opt_.pubsSeparate && opt_.mode == DriverOptions::Mode::kRun) {
      const auto& pt = opt_.pubTargets.empty() ? opt_.targets : opt_.pubTargets;
      for (uint32_t k = 0; k < pubs; ++k) {
        ClientConnection* c = makeConn(r, pt[k % pt.size()]);
        c->publisher = static_cast<int64_t>(r) * pubs + k;
        publishers_.push_back({c, static_cast<uint32_t>(c->publisher), 0});
      }
    }
  }
}

bool LoadDriver::connectAll() {
  const uint64_t start = monotonicNs();
  const uint64_t deadline = start + secondsToNs(opt_.connectTimeoutS);
  std::vector<ClientConnection*> pending;
  pending.reserve(conns_.size());
  for (auto it = conns_.rbegin(); it != conns_.rend(); ++it) pending.push_back(it->get());
  uint64_t lastReport = start;
  while (opened_ + failedConnects_ < conns_.size()) {
    const uint64_t now = monotonicNs();
    if (now >= deadline) {
      if (firstConnectError_.empty()) firstConnectError_ = "connect timeout";
      break;
    }
    for (ClientConnection* c : retryQueue_) pending.insert(pending.begin(), c);
    retryQueue_.clear();
    while (inFlight_ < opt_.connectConcurrency && !pending.empty()) {
      ClientConnection* c = pending.back();
      pending.pop_back();
      ++inFlight_;
      c->start();  // on immediate failure onClosed() has already accounted for it
    }
    if (now - lastReport > 2 * kNsPerSec) {
      std::fprintf(stderr, "loadgen: %u/%zu connected\n", opened_, conns_.size());
      lastReport = now;
    }
    poll(now + kMaxPollNs);
  }
  connecting_ = false;
  connectNs_ = monotonicNs() - start;
  return opened_ == conns_.size();
}

void LoadDriver::onOpen(ClientConnection&) {
  if (connecting_) {
    --inFlight_;
    ++opened_;
  }
}

void LoadDriver::onClosed(ClientConnection& conn, bool wasOpen, const std::string& why) {
  if (!wasOpen && connecting_) {
    --inFlight_;
    if (conn.attempts() <= opt_.connectRetries) {
      retryQueue_.push_back(&conn);
    } else {
      ++failedConnects_;
      if (firstConnectError_.empty()) firstConnectError_ = conn.target().text + ": " + why;
    }
    return;
  }
  ++closedAfterOpen_;
  if (firstCloseReason_.empty()) firstCloseReason_ = why;
  for (auto& step : steps_) {
    if (!step->closed) ++step->closedConnections;
  }
}

void LoadDriver::onMessage(ClientConnection& conn, std::string_view payload, uint64_t recvNs) {
  if (opt_.protocol == Protocol::kV2) {
    const V2Frame f = parseV2Frame(payload);
    if (f.kind == V2Frame::Kind::kReply) {  // a publish's acknowledgement
      if (f.ok) {
        ++v2Acks_;
      } else {
        ++v2Errors_;
        if (v2FirstError_.empty()) v2FirstError_ = std::string(payload.substr(0, 200));
      }
      return;
    }
    if (f.kind != V2Frame::Kind::kMessage) {
      ++v2OtherFrames_;
      return;
    }
    payload = f.data;
  }
  if (!conn.records) {
    ++publisherEchoes_;
    return;
  }
  const std::optional<Payload> p = decodePayload(payload);
  if (!p) {
    ++unparsed_;
    return;
  }
  const uint32_t pubs = opt_.pubsPerRoom;
  if (pubs == 0 || p->publisher / pubs != conn.room) {
    ++foreign_;
    return;
  }
  if (p->step >= steps_.size()) {
    ++outOfRange_;
    return;
  }
  const SequenceTracker::Verdict verdict = conn.trackers[p->publisher % pubs].observe(p->seq);
  Step& st = *steps_[p->step];
  if (st.closed) {
    ++st.late;
    return;
  }
  ++st.delivered;
  if (verdict == SequenceTracker::Verdict::kDuplicate) {
    ++st.duplicates;
    return;
  }
  ++st.unique;
  if (verdict == SequenceTracker::Verdict::kOutOfOrder) ++st.outOfOrder;
  st.latency.record(recvNs > p->intendedNs ? recvNs - p->intendedNs : 0);
}

void LoadDriver::poll(uint64_t untilNs) {
  const uint64_t now = monotonicNs();
  const uint64_t wait = untilNs > now ? std::min(untilNs - now, kMaxPollNs) : 0;
  timespec ts{static_cast<time_t>(wait / kNsPerSec), static_cast<long>(wait % kNsPerSec)};
  epoll_event events[kMaxEvents];
  const int n = ::epoll_pwait2(epollFd_, events, kMaxEvents, &ts, nullptr);
  for (int i = 0; i < n; ++i) {
    if (events[i].data.ptr == &stdinTag) {
      char buf[256];
      const ssize_t r = ::read(0, buf, sizeof buf);
      if (r <= 0) {
        stdinOpen_ = false;
        ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, 0, nullptr);
      }
      continue;
    }
    static_cast<ClientConnection*>(events[i].data.ptr)
        ->onEvent(events[i].events, scratch_.data(), scratch_.size());
  }
}

void LoadDriver::runFor(uint64_t untilNs) {
  while (monotonicNs() < untilNs) poll(untilNs);
}

void LoadDriver::runStep(Step& st) {
  using Due = std::pair<uint64_t, uint32_t>;  // (intended time of the next firing, publisher)
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> schedule;
  const size_t nPubs = publishers_.size();
  st.cpuStart = CpuSnapshot::take(opt_.watchPids);
  st.startNs = st.cpuStart.wallNs + kStepLeadNs;
  st.endNs = st.startNs + secondsToNs(st.warmup ? opt_.warmupS : opt_.stepS);
  const uint32_t burst = std::max<uint32_t>(1, st.burst);
  uint64_t periodNs = 0;
  if (nPubs > 0 && st.rate > 0) {
    // Each publisher fires every periodNs; steady publishers are spread evenly over the period,
    // bursting ones all fire at the same instants.
    periodNs = static_cast<uint64_t>(1e9 * static_cast<double>(nPubs) * burst / st.rate);
    periodNs = std::max<uint64_t>(periodNs, 1);
    for (size_t k = 0; k < nPubs; ++k) {
      const uint64_t offset = burst > 1 ? 0 : periodNs * k / nPubs;
      schedule.emplace(st.startNs + offset, static_cast<uint32_t>(k));
    }
  }
  for (;;) {
    uint64_t now = monotonicNs();
    while (!schedule.empty() && schedule.top().first <= now) {
      const auto [due, k] = schedule.top();
      schedule.pop();
      if (due >= st.endNs) continue;
      Publisher& pub = publishers_[k];
      for (uint32_t b = 0; b < burst; ++b) {
        encodePayload({due, pub.id, pub.seq++, st.index}, opt_.payloadSize, payloadBuf_);
        if (pub.conn->sendMessage(payloadBuf_)) {
          ++st.sent;
          st.expected += opt_.roomSize;
        }
      }
      now = monotonicNs();
      st.sendLag.record(now - due);
      schedule.emplace(due + periodNs, k);
    }
    if (now >= st.endNs && (schedule.empty() || schedule.top().first >= st.endNs)) break;
    const uint64_t next = schedule.empty() ? st.endNs : std::min(schedule.top().first, st.endNs);
    poll(next);
  }
  drainStep(st);
}

void LoadDriver::drainStep(Step& st) {
  const uint64_t deadline = st.endNs + secondsToNs(opt_.drainS);
  while (st.unique < st.expected && closedAfterOpen_ < conns_.size()) {
    const uint64_t now = monotonicNs();
    if (now >= deadline) break;
    poll(std::min(deadline, now + 5'000'000));
  }
  st.closed = true;
  st.cpuEnd = CpuSnapshot::take(opt_.watchPids);
  st.closedNs = st.cpuEnd.wallNs;
}

bool LoadDriver::stepPassed(const Step& st, std::string& why) const {
  const uint64_t lost = st.expected > st.unique ? st.expected - st.unique : 0;
  if (st.closedConnections > 0) {
    why = std::to_string(st.closedConnections) + " connections closed: " + firstCloseReason_;
  } else if (lost > 0) {
    why = std::to_string(lost) + " lost";
  } else if (st.duplicates > 0) {
    why = std::to_string(st.duplicates) + " duplicates";
  } else if (nsToMs(st.latency.valueAtPercentile(99)) > opt_.p99LimitMs) {
    why = "p99 above " + std::to_string(static_cast<int>(opt_.p99LimitMs)) + " ms";
  } else {
    why.clear();
    return true;
  }
  return false;
}

namespace {
double cpuFraction(const CpuSnapshot& a, const CpuSnapshot& b) {
  const double wall = static_cast<double>(b.wallNs - a.wallNs) / 1e9;
  return wall > 0 ? (b.self - a.self) / wall : 0;
}
double sumDelta(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] < 0 || b[i] < 0) return -1;
    sum += b[i] - a[i];
  }
  return sum;
}
double watchedCpu(const CpuSnapshot& a, const CpuSnapshot& b) {
  return sumDelta(a.watched, b.watched);
}
}  // namespace

void LoadDriver::reportStep(const Step& st) const {
  std::string why;
  const bool pass = stepPassed(st, why);
  const double seconds = static_cast<double>(st.endNs - st.startNs) / 1e9;
  std::fprintf(
      stderr,
      "loadgen %s: step %u%s%s offered %.0f msg/s, delivered %.0f/s, p50 %.2f ms, p99 "
      "%.2f ms, max %.2f ms, lost %llu, dup %llu, gen cpu %.0f%%%s%s\n",
      opt_.label.c_str(), st.index, st.warmup ? " (warm-up)" : "", st.burst > 1 ? " (burst)" : "",
      st.rate, static_cast<double>(st.unique) / seconds, nsToMs(st.latency.valueAtPercentile(50)),
      nsToMs(st.latency.valueAtPercentile(99)), nsToMs(st.latency.max()),
      static_cast<unsigned long long>(st.expected > st.unique ? st.expected - st.unique : 0),
      static_cast<unsigned long long>(st.duplicates), 100 * cpuFraction(st.cpuStart, st.cpuEnd),
      pass ? "" : ", FAIL: ", why.c_str());
}

int LoadDriver::run() {
  if (epollFd_ < 0) {
    writeReport(1, std::string("epoll_create1: ") + std::strerror(errno));
    return 1;
  }
  runStartNs_ = monotonicNs();
  runCpuStart_ = CpuSnapshot::take(opt_.watchPids);
  buildConnections();
  // Step 0 is the warm-up; it exists (closed) even without one, so indices match the payload.
  steps_.push_back(std::make_unique<Step>());
  steps_[0]->warmup = true;
  steps_[0]->closed = opt_.warmupS <= 0;

  if (!connectAll()) {
    const std::string error = "connected " + std::to_string(opened_) + " of " +
                              std::to_string(conns_.size()) + ": " + firstConnectError_;
    std::fprintf(stderr, "loadgen %s: %s\n", opt_.label.c_str(), error.c_str());
    writeReport(2, error);
    return 2;
  }
  if (opt_.mode == DriverOptions::Mode::kIdle) return runIdle();

  runFor(monotonicNs() + secondsToNs(opt_.settleS));
  const double baseRate =
      opt_.rate > 0 ? opt_.rate : opt_.pubRate * static_cast<double>(publishers_.size());
  if (opt_.warmupS > 0) {
    steps_[0]->rate = baseRate;
    runStep(*steps_[0]);
  }
  int exitCode = 0;
  // A ramp (factor != 1) stops at the first failing or generator-bound step; repeated steps at
  // one rate (factor 1: repetitions, then bursts) all run.
  const bool ramp = opt_.steps > 1 && opt_.rampFactor != 1.0;
  for (uint32_t i = 1; i <= opt_.steps + opt_.burstSteps; ++i) {
    steps_.push_back(std::make_unique<Step>());
    Step& st = *steps_.back();
    st.index = i;
    const uint32_t level = std::min(i, opt_.steps) - 1;
    st.rate = baseRate * std::pow(opt_.rampFactor, static_cast<double>(level));
    st.burst = i > opt_.steps ? std::max<uint32_t>(1, opt_.burst) : 1;
    runStep(st);
    reportStep(st);
    std::string why;
    const bool pass = stepPassed(st, why);
    const bool saturated = cpuFraction(st.cpuStart, st.cpuEnd) > opt_.genCpuLimit;
    if (!pass) exitCode = 3;
    if (ramp && (!pass || saturated)) break;
    if (closedAfterOpen_ == conns_.size()) break;
  }
  writeReport(exitCode, "");
  return exitCode;
}

int LoadDriver::runIdle() {
  std::printf("READY opened=%u failed=%u\n", opened_, failedConnects_);
  std::fflush(stdout);
  const CpuSnapshot start = CpuSnapshot::take(opt_.watchPids);
  if (opt_.holdS <= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &stdinTag;
    if (::epoll_ctl(epollFd_, EPOLL_CTL_ADD, 0, &ev) != 0) stdinOpen_ = false;
    while (stdinOpen_) poll(monotonicNs() + kMaxPollNs);
  } else {
    runFor(start.wallNs + secondsToNs(opt_.holdS));
  }
  const CpuSnapshot end = CpuSnapshot::take(opt_.watchPids);
  // Reuse the warm-up step slot to carry the idle window's CPU figures into the report.
  steps_[0]->cpuStart = start;
  steps_[0]->cpuEnd = end;
  steps_[0]->startNs = start.wallNs;
  steps_[0]->endNs = end.wallNs;
  writeReport(0, "");
  return 0;
}

void LoadDriver::writeStep(JsonWriter& w, const Step& st) const {
  std::string why;
  const bool pass = stepPassed(st, why);
  const double seconds =
      st.endNs > st.startNs ? static_cast<double>(st.endNs - st.startNs) / 1e9 : 0;
  const double genFrac = cpuFraction(st.cpuStart, st.cpuEnd);
  const double serverCpu = watchedCpu(st.cpuStart, st.cpuEnd);
  const Histogram& h = st.latency;
  w.beginObject()
      .field("index", st.index)
      .field("warmup", st.warmup)
      .field("burst", st.burst)
      .field("offered_rate", st.rate)
      .field("seconds", seconds)
      .field("sent", static_cast<unsigned long long>(st.sent))
      .field("expected", static_cast<unsigned long long>(st.expected))
      .field("delivered", static_cast<unsigned long long>(st.unique))
      .field("lost",
             static_cast<unsigned long long>(st.expected > st.unique ? st.expected - st.unique : 0))
      .field("duplicates", static_cast<unsigned long long>(st.duplicates))
      .field("out_of_order", static_cast<unsigned long long>(st.outOfOrder))
      .field("late", static_cast<unsigned long long>(st.late))
      .field("closed_connections", static_cast<unsigned long long>(st.closedConnections))
      .field("delivered_per_s", seconds > 0 ? static_cast<double>(st.unique) / seconds : 0.0);
  w.key("latency_ms")
      .beginObject()
      .field("count", static_cast<unsigned long long>(h.count()))
      .field("mean", h.mean() / 1e6)
      .field("min", nsToMs(h.min()))
      .field("p50", nsToMs(h.valueAtPercentile(50)))
      .field("p90", nsToMs(h.valueAtPercentile(90)))
      .field("p99", nsToMs(h.valueAtPercentile(99)))
      .field("p999", nsToMs(h.valueAtPercentile(99.9)))
      .field("p9999", nsToMs(h.valueAtPercentile(99.99)))
      .field("max", nsToMs(h.max()))
      .endObject();
  w.key("send_lag_ms")
      .beginObject()
      .field("p99", nsToMs(st.sendLag.valueAtPercentile(99)))
      .field("max", nsToMs(st.sendLag.max()))
      .endObject();
  w.field("cpu_window_s", static_cast<double>(st.cpuEnd.wallNs - st.cpuStart.wallNs) / 1e9)
      .field("gen_cpu_s", st.cpuEnd.self - st.cpuStart.self)
      .field("gen_cpu_frac", genFrac)
      .field("generator_saturated", genFrac > opt_.genCpuLimit)
      .field("server_cpu_s", serverCpu)
      .field("gen_runq_wait_s",
             st.cpuStart.selfWait < 0 ? -1.0 : st.cpuEnd.selfWait - st.cpuStart.selfWait)
      .field("server_runq_wait_s", sumDelta(st.cpuStart.watchedWait, st.cpuEnd.watchedWait));
  // Each watched process' share, in --watch-pid order (e.g. the nodes, then Redis).
  w.key("server_cpu_s_by_pid").beginArray();
  for (size_t i = 0; i < st.cpuStart.watched.size() && i < st.cpuEnd.watched.size(); ++i) {
    const double a = st.cpuStart.watched[i], b = st.cpuEnd.watched[i];
    w.value(a < 0 || b < 0 ? -1.0 : b - a);
  }
  w.endArray();
  w.field("pass", pass).field("fail_reason", why).endObject();
}

void LoadDriver::writeReport(int exitCode, const std::string& error) const {
  JsonWriter w;
  w.beginObject()
      .field("label", opt_.label)
      .field("mode", opt_.mode == DriverOptions::Mode::kIdle ? "idle" : "run")
      .field("protocol", protocolName(opt_.protocol));
  w.key("targets").beginArray();
  for (const auto& t : opt_.targets) w.value(t.text);
  w.endArray();
  w.field("rooms", opt_.rooms)
      .field("room_size", opt_.roomSize)
      .field("pubs_per_room", opt_.pubsPerRoom)
      .field("pubs_separate", opt_.pubsSeparate)
      .field("publishers", static_cast<unsigned long long>(publishers_.size()))
      .field("connections", static_cast<unsigned long long>(conns_.size()))
      .field("payload_bytes",
             static_cast<unsigned long long>(std::max(opt_.payloadSize, kPayloadHeaderSize)));
  w.key("connect")
      .beginObject()
      .field("opened", opened_)
      .field("failed", failedConnects_)
      .field("seconds", static_cast<double>(connectNs_) / 1e9)
      .field("first_error", firstConnectError_)
      .endObject();
  w.key("steps").beginArray();
  for (const auto& st : steps_) {
    if (st->warmup && opt_.mode == DriverOptions::Mode::kRun && opt_.warmupS <= 0) continue;
    writeStep(w, *st);
  }
  w.endArray();
  const CpuSnapshot now = CpuSnapshot::take(opt_.watchPids);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  w.key("generator")
      .beginObject()
      .field("cpu_s", now.self - runCpuStart_.self)
      .field("wall_s", static_cast<double>(now.wallNs - runStartNs_) / 1e9)
      .field("max_rss_kb", static_cast<long long>(ru.ru_maxrss))
      .endObject();
  w.field("closed_after_open", static_cast<unsigned long long>(closedAfterOpen_))
      .field("first_close_reason", firstCloseReason_)
      .field("unparsed", static_cast<unsigned long long>(unparsed_))
      .field("foreign", static_cast<unsigned long long>(foreign_))
      .field("publisher_echoes", static_cast<unsigned long long>(publisherEchoes_));
  if (opt_.protocol == Protocol::kV2) {
    w.key("v2")
        .beginObject()
        .field("publish_acks", static_cast<unsigned long long>(v2Acks_))
        .field("publish_errors", static_cast<unsigned long long>(v2Errors_))
        .field("first_error", v2FirstError_)
        .field("other_frames", static_cast<unsigned long long>(v2OtherFrames_))
        .endObject();
  }
  w.field("exit_code", exitCode).field("error", error).endObject();
  std::printf("%s\n", w.str().c_str());
  std::fflush(stdout);
}

}  // namespace heimdallr::bench
