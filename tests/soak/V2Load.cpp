#include "V2Load.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSONString.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "Clock.h"

namespace heimdallr::soak {
namespace {

using bench::monotonicNs;
constexpr uint64_t kNsPerMs = 1000000ull;
constexpr uint64_t kV2ConnIdBase = uint64_t{1} << 40;  // distinct WebSocket keys from the raw load
constexpr uint8_t kTimerDrop = 0, kTimerReconnect = 1;
constexpr const char* kSubprotocol = "heimdallr.v2";

uint64_t secondsToNs(double s) { return static_cast<uint64_t>(s * 1e9); }

std::string quoted(const std::string& text) { return Poco::toJSON(text, Poco::JSON_WRAP_STRINGS); }

uint64_t pack(uint64_t publisher, uint64_t seq) { return (publisher + 1) << 40 | seq; }

std::string unpackText(uint64_t packed) {
  return "p" + std::to_string((packed >> 40) - 1) + "#" +
         std::to_string(packed & ((uint64_t{1} << 40) - 1));
}

std::string errorText(const Poco::JSON::Object::Ptr& msg) {
  const Poco::JSON::Object::Ptr error = msg->getObject("error");
  if (error.isNull()) return "?";
  return std::to_string(error->optValue<int>("code", 0)) + " " +
         error->optValue<std::string>("message", "");
}

}  // namespace

V2Load::V2Load(V2Options options, std::vector<Endpoint> targets, double closeTimeoutS,
               uint64_t seed, int epollFd)
    : opt_(std::move(options)),
      targets_(std::move(targets)),
      closeTimeoutS_(closeTimeoutS),
      epollFd_(epollFd),
      rng_(seed * 0x9E3779B97F4A7C15ull + 7) {}

V2Load::~V2Load() {
  clients_.clear();
  graveyard_.clear();
}

double V2Load::uniform(double lo, double hi) {
  return lo + std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * (hi - lo);
}

V2Load::Client* V2Load::clientOf(const SoakConnection& conn) {
  auto it = byConn_.find(conn.id());
  return it == byConn_.end() ? nullptr : &clients_[it->second];
}

void V2Load::violation(uint64_t& counter, const std::string& text, uint64_t n) {
  counter += n;
  if (firstError_.empty()) firstError_ = text;
}

// ---------------------------------------------------------------------------------------------
// Set-up.

void V2Load::connect() {
  if (!enabled()) return;
  const auto nodes = static_cast<uint32_t>(targets_.size());
  uint32_t publishers = 0, stables = 0, reconnecters = 0;
  for (uint32_t r = 0; r < opt_.rooms; ++r) {
    Room room;
    room.name = opt_.roomPrefix + "-" + std::to_string(r);
    rooms_.push_back(std::move(room));
    auto add = [&](Role role, uint32_t& counter, const char* tag) {
      Client c;
      c.role = role;
      c.room = r;
      c.index = counter++;
      c.name = tag + std::to_string(c.index);
      rooms_[r].clients.push_back(static_cast<uint32_t>(clients_.size()));
      clients_.push_back(std::move(c));
    };
    for (uint32_t n = 0; n < nodes; ++n) {
      for (uint32_t k = 0; k < opt_.pubsPerNode; ++k) add(Role::kPublisher, publishers, "p");
      for (uint32_t k = 0; k < opt_.subsPerNode; ++k) add(Role::kStable, stables, "s");
    }
    for (uint32_t k = 0; k < opt_.reconnecters; ++k) add(Role::kReconnecter, reconnecters, "r");
  }
  // Spread every role over the nodes: the i-th client of a room goes to node i mod nodes.
  for (const Room& room : rooms_) {
    for (size_t i = 0; i < room.clients.size(); ++i) open(room.clients[i], targets_[i % nodes]);
  }
}

bool V2Load::ready() const {
  return std::all_of(clients_.begin(), clients_.end(),
                     [](const Client& c) { return c.phase == Phase::kJoined; });
}

void V2Load::open(uint32_t index, const Endpoint& target) {
  Client& c = clients_[index];
  ++c.gen;
  if (c.connections++ > 0) ++reconnects_;
  c.phase = Phase::kOpening;
  c.dropping = false;
  c.connectId = c.joinId = c.presenceId = 0;
  c.clientId.clear();
  const uint64_t id = kV2ConnIdBase + nextConnId_++;
  c.conn = std::make_unique<SoakConnection>(
      id, target, "/", static_cast<SoakConnection::Listener&>(*this), epollFd_);
  c.conn->setSubprotocol(kSubprotocol);
  byConn_[id] = index;
  c.conn->start();  // a failure has called onClosed() already
}

uint64_t V2Load::send(Client& c, const std::string& command, const std::string& bodyJson) {
  const uint64_t id = c.nextId++;
  if (c.conn) {
    c.conn->sendText("{\"id\":" + std::to_string(id) + ",\"" + command + "\":" + bodyJson + "}");
  }
  return id;
}

// ---------------------------------------------------------------------------------------------
// The load.

void V2Load::startLoad(uint64_t nowNs) {
  if (!enabled()) return;
  loading_ = true;
  periodNs_ = secondsToNs(1.0 / opt_.pubRate);
  size_t pubs = 0;
  for (const Client& c : clients_) pubs += c.role == Role::kPublisher;
  size_t k = 0;
  for (uint32_t i = 0; i < clients_.size(); ++i) {
    Client& c = clients_[i];
    if (c.role == Role::kPublisher) c.nextNs = nowNs + periodNs_ * k++ / std::max<size_t>(pubs, 1);
    if (c.role == Role::kReconnecter) {
      timers_.push(
          {nowNs + secondsToNs(uniform(opt_.stayMinS, opt_.stayMaxS)), i, c.gen, kTimerDrop});
    }
  }
}

void V2Load::stopLoad() { loading_ = false; }

void V2Load::tick(uint64_t nowNs) {
  if (!enabled()) return;
  if (loading_) {
    for (Client& c : clients_) {
      if (c.role != Role::kPublisher) continue;
      while (c.nextNs <= nowNs) {
        c.nextNs += periodNs_;
        if (c.phase != Phase::kJoined) continue;
        Room& room = rooms_[c.room];
        const std::string body = "{\"room\":" + quoted(room.name) +
                                 ",\"data\":{\"seq\":" + std::to_string(c.seq) + ",\"from\":\"p" +
                                 std::to_string(c.index) + "\"}}";
        const uint64_t id = send(c, "publish", body);
        c.pending.emplace(id, c.seq++);
        ++published_;
        ++room.published;
      }
    }
  }
  while (!timers_.empty() && timers_.top().atNs <= nowNs) {
    const Timer t = timers_.top();
    timers_.pop();
    Client& c = clients_[t.client];
    if (t.gen != c.gen) continue;
    if (t.kind == kTimerDrop) {
      if (loading_ && c.phase == Phase::kJoined) drop(c, nowNs);
    } else if (c.phase == Phase::kAway && !closing_) {
      open(t.client, targets_[rng_() % targets_.size()]);
    }
  }
}

uint64_t V2Load::wakeNs() const {
  uint64_t wake = UINT64_MAX;
  if (loading_) {
    for (const Client& c : clients_) {
      if (c.role == Role::kPublisher) wake = std::min(wake, c.nextNs);
    }
  }
  if (!timers_.empty()) wake = std::min(wake, timers_.top().atNs);
  return wake;
}

void V2Load::drop(Client& c, uint64_t nowNs) {
  // Abruptly: no close frame, the socket closed with a FIN or reset (SO_LINGER 0).
  const bool reset = rng_() % 2 == 0;
  ++drops_;
  if (reset) ++dropResets_;
  c.dropping = true;
  const uint32_t index = static_cast<uint32_t>(&c - clients_.data());
  const uint64_t gen = c.gen;
  c.conn->abort(reset);  // onClosed() runs now: the client is away
  timers_.push(
      {nowNs + secondsToNs(uniform(opt_.awayMinS, opt_.awayMaxS)), index, gen, kTimerReconnect});
}

// ---------------------------------------------------------------------------------------------
// Events.

void V2Load::onOpen(SoakConnection& conn) {
  Client* c = clientOf(conn);
  if (!c) return;
  c->phase = Phase::kConnecting;
  c->connectId = send(*c, "connect", "{\"name\":" + quoted(c->name) + "}");
}

void V2Load::onMessage(SoakConnection& conn, std::string_view payload, uint64_t) {
  Client* c = clientOf(conn);
  if (!c) return;
  try {
    parser_.reset();
    const Json msg = parser_.parse(std::string(payload)).extract<Json>();
    if (msg->has("id")) {
      onReply(*c, msg, msg->getValue<Poco::UInt64>("id"));
      return;
    }
    const std::string kind = msg->optValue<std::string>("push", "");
    if (kind == "message") {
      if (msg->getValue<std::string>("room") != rooms_[c->room].name) {
        violation(foreign_, c->name + ": a push for room " + msg->getValue<std::string>("room"));
        return;
      }
      if (!msg->has("offset")) {
        violation(gaps_, c->name + ": a message push without an offset in a room with history");
        return;
      }
      observe(*c, msg->getValue<Poco::UInt64>("offset"), msg->getObject("data"), false);
    } else if (kind == "epoch") {
      violation(epochChanges_, c->name + ": epoch push " + std::string(payload));
    } else if (kind.empty()) {
      violation(unparsed_, c->name + ": neither a reply nor a push: " + std::string(payload));
    }
    // "join" / "leave" pushes: presence.join_leave is off; ignored if they come.
  } catch (const Poco::Exception& e) {
    violation(unparsed_, c->name + ": unreadable frame (" + e.displayText() +
                             "): " + std::string(payload.substr(0, 300)));
  } catch (const std::exception& e) {
    violation(unparsed_, c->name + ": unreadable frame (" + e.what() +
                             "): " + std::string(payload.substr(0, 300)));
  }
}

void V2Load::onReply(Client& c, const Json& msg, uint64_t id) {
  if (id != 0 && id == c.connectId) {
    c.connectId = 0;
    if (msg->has("error")) {
      violation(connectErrors_, c.name + ": connect refused: " + errorText(msg));
      return;
    }
    c.clientId = msg->getObject("ok")->getValue<std::string>("client");
    c.phase = Phase::kJoining;
    std::string body = "{\"room\":" + quoted(rooms_[c.room].name);
    if (c.everJoined) {
      body += ",\"since\":{\"offset\":" + std::to_string(c.last) + ",\"epoch\":" + quoted(c.epoch) +
              "}";
    }
    body += "}";
    c.joinSentNs = monotonicNs();
    c.joinId = send(c, "join", body);
    return;
  }
  if (id != 0 && id == c.joinId) {
    c.joinId = 0;
    onJoinReply(c, msg);
    return;
  }
  if (auto it = c.pending.find(id); it != c.pending.end()) {
    const uint64_t seq = it->second;
    c.pending.erase(it);
    onAck(c, msg, seq);
    return;
  }
  if (id != 0 && id == c.presenceId) {
    c.presenceId = 0;
    onPresenceReply(c, msg);
    return;
  }
  violation(unknownReplies_, c.name + ": a reply to no pending command (id " + std::to_string(id) +
                                 "): a second answer?");
}

void V2Load::onJoinReply(Client& c, const Json& msg) {
  const uint64_t now = monotonicNs();
  const bool rejoin = c.everJoined;
  if (msg->has("error")) {
    violation(joinErrors_, c.name + ": join refused: " + errorText(msg));
    if (c.role == Role::kReconnecter && loading_) drop(c, now);  // try again later
    return;
  }
  const Json ok = msg->getObject("ok");
  const Room& room = rooms_[c.room];
  if (ok->getValue<std::string>("room") != room.name) {
    violation(foreign_, c.name + ": join reply for room " + ok->getValue<std::string>("room"));
  }
  const std::string epoch = ok->getValue<std::string>("epoch");
  const uint64_t offset = ok->getValue<Poco::UInt64>("offset");
  const bool recovered = ok->getValue<bool>("recovered");
  const Poco::JSON::Array::Ptr messages = ok->getArray("messages");
  const size_t count = messages.isNull() ? 0 : messages->size();
  if (const Poco::JSON::Array::Ptr members = ok->getArray("members"); !members.isNull()) {
    presenceMax_ = std::max<uint64_t>(presenceMax_, members->size());
  }
  c.phase = Phase::kJoined;
  if (!rejoin) {
    c.everJoined = true;
    c.epoch = epoch;
    c.firstOffset = offset + 1;
    c.last = offset;
    if (count > 0) {
      violation(joinUnexpectedMessages_, c.name + ": first join (join_messages 0) got " +
                                             std::to_string(count) + " messages");
    }
  } else {
    rejoinLatency_.record(now - c.joinSentNs);
    const uint64_t since = c.last;
    if (epoch != c.epoch) {
      violation(epochChanges_, c.name + ": epoch " + c.epoch + " became " + epoch);
    }
    if (!recovered) {
      violation(notRecovered_, c.name + ": join since offset " + std::to_string(since) +
                                   " was not recovered (reply offset " + std::to_string(offset) +
                                   ", epoch " + epoch + ")");
    } else {
      ++c.recoveries;
      ++recoveries_;
    }
    for (size_t i = 0; i < count; ++i) {
      const Json m = messages->getObject(static_cast<unsigned>(i));
      if (m->getValue<std::string>("room") != room.name) {
        violation(foreign_,
                  c.name + ": a recovered message of room " + m->getValue<std::string>("room"));
        continue;
      }
      observe(c, m->getValue<Poco::UInt64>("offset"), m->getObject("data"), true);
    }
    c.recoveredMessages += count;
    recoveredMessages_ += count;
    if (recovered && c.last != offset) {
      violation(joinOffsetMismatch_, c.name + ": recovered join since " + std::to_string(since) +
                                         " says offset " + std::to_string(offset) +
                                         " but its messages end at " + std::to_string(c.last));
    }
    if (c.last < offset) {  // not recovered: it knows it has a gap; go on from the reply's offset
      violation(gaps_,
                c.name + ": missed offsets " + std::to_string(c.last + 1) + ".." +
                    std::to_string(offset) + " across a reconnect",
                offset - c.last);
      c.last = offset;
    }
  }
  if (c.role == Role::kReconnecter && loading_) {
    timers_.push({now + secondsToNs(uniform(opt_.stayMinS, opt_.stayMaxS)),
                  static_cast<uint32_t>(&c - clients_.data()), c.gen, kTimerDrop});
  }
}

void V2Load::observe(Client& c, uint64_t offset, const Json& data, bool fromJoin) {
  if (!fromJoin && c.phase != Phase::kJoined) {
    violation(pushBeforeJoin_, c.name + ": message push at offset " + std::to_string(offset) +
                                   " before its join was answered");
  }
  if (!c.everJoined) return;
  if (offset <= c.last) {
    violation(duplicates_, c.name + ": offset " + std::to_string(offset) + " after " +
                               std::to_string(c.last) + (fromJoin ? " (in a join reply)" : ""));
    return;
  }
  if (offset != c.last + 1) {
    violation(gaps_,
              c.name + ": offset " + std::to_string(offset) + " after " + std::to_string(c.last) +
                  (fromJoin ? " (in a join reply)" : ""),
              offset - c.last - 1);
  }
  c.last = offset;
  ++c.seen;
  ++delivered_;
  Room& room = rooms_[c.room];
  if (data.isNull() || !data->has("seq") || !data->has("from")) {
    violation(contentMismatch_,
              c.name + ": offset " + std::to_string(offset) + " carries no {seq, from} object");
    return;
  }
  const std::string from = data->getValue<std::string>("from");
  const uint64_t publisher = std::strtoull(from.c_str() + (from.empty() ? 0 : 1), nullptr, 10);
  noteContent(room, offset, pack(publisher, data->getValue<Poco::UInt64>("seq")), c.name);
}

void V2Load::noteContent(Room& room, uint64_t offset, uint64_t packed, const std::string& where) {
  if (room.content.size() <= offset) room.content.resize(offset + 1024, 0);
  uint64_t& slot = room.content[offset];
  if (slot == 0) {
    slot = packed;
  } else if (slot != packed) {
    violation(contentMismatch_, where + ": offset " + std::to_string(offset) + " of " + room.name +
                                    " is " + unpackText(packed) + ", elsewhere " +
                                    unpackText(slot));
  }
}

void V2Load::onAck(Client& c, const Json& msg, uint64_t seq) {
  ++acks_;
  if (msg->has("error")) {
    violation(publishErrors_,
              c.name + ": publish seq " + std::to_string(seq) + " refused: " + errorText(msg));
    return;
  }
  const Json ok = msg->getObject("ok");
  if (ok.isNull() || !ok->has("offset")) {
    violation(ackWithoutOffset_, c.name + ": publish seq " + std::to_string(seq) +
                                     " acked without an offset in a room with history");
    return;
  }
  Room& room = rooms_[c.room];
  const uint64_t offset = ok->getValue<Poco::UInt64>("offset");
  if (offset == 0 || !room.acked.insert(offset).second) {
    violation(ackOffsetReused_, c.name + ": publish seq " + std::to_string(seq) +
                                    " acked with offset " + std::to_string(offset) +
                                    (offset == 0 ? "" : ", already acked to another publish"));
  }
  if (offset <= c.lastAckOffset) {
    violation(ackOrder_, c.name + ": publish seq " + std::to_string(seq) + " got offset " +
                             std::to_string(offset) + ", not after its previous " +
                             std::to_string(c.lastAckOffset));
  }
  c.lastAckOffset = std::max(c.lastAckOffset, offset);
  room.maxAck = std::max(room.maxAck, offset);
  ++c.acked;
  noteContent(room, offset, pack(c.index, seq), c.name + " (ack)");
}

// ---------------------------------------------------------------------------------------------
// The end.

bool V2Load::caughtUp() const {
  for (const Client& c : clients_) {
    if (c.phase != Phase::kJoined || !c.pending.empty()) return false;
    if (c.last < rooms_[c.room].maxAck) return false;
  }
  return true;
}

void V2Load::queryPresence(uint64_t nowNs) {
  nextPresenceNs_ = nowNs + 250 * kNsPerMs;
  for (Room& room : rooms_) {
    if (room.presenceOk) continue;
    for (uint32_t i : room.clients) {
      Client& c = clients_[i];
      if (c.role != Role::kStable || c.phase != Phase::kJoined) continue;
      if (c.presenceId == 0) {
        c.presenceId = send(c, "presence", "{\"room\":" + quoted(room.name) + "}");
        ++room.presenceQueries;
      }
      break;  // the room's first stable member asks
    }
  }
}

void V2Load::onPresenceReply(Client& c, const Json& msg) {
  Room& room = rooms_[c.room];
  if (msg->has("error")) {
    room.presenceProblem = "presence refused: " + errorText(msg);
    return;
  }
  std::multiset<std::string> listed;
  const Poco::JSON::Array::Ptr members = msg->getObject("ok")->getArray("members");
  for (size_t i = 0; !members.isNull() && i < members->size(); ++i) {
    listed.insert(members->getObject(static_cast<unsigned>(i))->getValue<std::string>("client"));
  }
  std::multiset<std::string> live;
  for (uint32_t i : room.clients) {
    if (clients_[i].phase == Phase::kJoined) live.insert(clients_[i].clientId);
  }
  if (listed == live) {
    room.presenceOk = true;
    room.presenceProblem.clear();
    return;
  }
  std::vector<std::string> stale, missing;
  std::set_difference(listed.begin(), listed.end(), live.begin(), live.end(),
                      std::back_inserter(stale));
  std::set_difference(live.begin(), live.end(), listed.begin(), listed.end(),
                      std::back_inserter(missing));
  room.presenceProblem = "presence of " + room.name + " lists " + std::to_string(listed.size()) +
                         " members, " + std::to_string(live.size()) +
                         " are connected: " + std::to_string(stale.size()) + " not connected" +
                         (stale.empty() ? "" : " (e.g. " + stale.front() + ")") + ", " +
                         std::to_string(missing.size()) + " missing" +
                         (missing.empty() ? "" : " (e.g. " + missing.front() + ")");
}

bool V2Load::settled(uint64_t nowNs) {
  if (!enabled()) return true;
  if (!caughtUp()) return false;
  presencePhase_ = true;
  bool all = true;
  for (Room& room : rooms_) {
    const bool hasStable = std::any_of(room.clients.begin(), room.clients.end(), [&](uint32_t i) {
      return clients_[i].role == Role::kStable;
    });
    if (!hasStable) room.presenceOk = true;
    all = all && room.presenceOk;
  }
  if (all) return true;
  if (nowNs >= nextPresenceNs_) queryPresence(nowNs);
  return false;
}

void V2Load::closeAll() {
  closing_ = true;
  for (Client& c : clients_) {
    if (!c.conn) {
      c.phase = Phase::kGone;
      continue;
    }
    c.phase = Phase::kClosing;
    c.conn->closeGracefully();  // no-op unless open: abortRemaining() then counts it
  }
}

bool V2Load::allClosed() const {
  return std::all_of(clients_.begin(), clients_.end(), [](const Client& c) { return !c.conn; });
}

void V2Load::abortRemaining() {
  for (Client& c : clients_) {
    if (!c.conn) continue;
    violation(closeErrors_, c.name + ": the close handshake did not complete");
    c.dropping = true;
    c.conn->abort(true);
  }
}

void V2Load::onClosed(SoakConnection& conn, bool clean, const std::string& why) {
  auto it = byConn_.find(conn.id());
  if (it == byConn_.end()) return;
  const uint32_t index = it->second;
  byConn_.erase(it);
  Client& c = clients_[index];
  graveyard_.push_back(std::move(c.conn));
  if (c.dropping) {
    c.dropping = false;
    c.phase = closing_ ? Phase::kGone : Phase::kAway;
    return;
  }
  if (closing_) {
    if (!clean) violation(closeErrors_, c.name + ": close: " + why);
    c.phase = Phase::kGone;
    return;
  }
  const bool setup = !loading_ && !c.everJoined;
  const std::string text = c.name + " (" + c.clientId + ") lost its connection: " + why;
  violation(disconnects_, text);
  if (setup && setupError_.empty()) setupError_ = "v2 " + text;
  c.phase = Phase::kAway;
  if (c.role == Role::kReconnecter && loading_) {
    timers_.push({monotonicNs() + secondsToNs(uniform(opt_.awayMinS, opt_.awayMaxS)), index, c.gen,
                  kTimerReconnect});
  }
}

// ---------------------------------------------------------------------------------------------
// Output.

std::string V2Load::statusText() const {
  if (!enabled()) return "";
  uint64_t pending = 0;
  for (const Client& c : clients_) pending += c.pending.size();
  uint64_t top = 0;
  for (const Room& r : rooms_) top += r.maxAck;
  const uint64_t bad = unparsed_ + publishErrors_ + unknownReplies_ + ackWithoutOffset_ +
                       ackOffsetReused_ + joinErrors_ + notRecovered_ + epochChanges_ +
                       joinOffsetMismatch_ + joinUnexpectedMessages_ + gaps_ + duplicates_ +
                       pushBeforeJoin_ + contentMismatch_ + foreign_ + disconnects_ +
                       connectErrors_;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                " | v2 published=%llu acked=%llu pending=%llu top=%llu delivered=%llu "
                "reconnects=%llu recovered=%llu violations=%llu",
                static_cast<unsigned long long>(published_), static_cast<unsigned long long>(acks_),
                static_cast<unsigned long long>(pending), static_cast<unsigned long long>(top),
                static_cast<unsigned long long>(delivered_),
                static_cast<unsigned long long>(reconnects_),
                static_cast<unsigned long long>(recoveries_), static_cast<unsigned long long>(bad));
  return buf;
}

void V2Load::addFailures(std::vector<std::string>& failures) const {
  if (!enabled()) return;
  auto check = [&](uint64_t value, const std::string& what) {
    if (value > 0) failures.push_back(std::to_string(value) + " " + what);
  };
  check(unparsed_, "v2 frames that were not a reply or push in JSON");
  check(connectErrors_, "v2 connects refused");
  check(publishErrors_, "v2 publishes answered with an error");
  check(unknownReplies_, "v2 replies to no pending command (answered twice?)");
  check(ackWithoutOffset_, "v2 publish acks without an offset");
  check(ackOffsetReused_, "v2 publish acks with an offset already acked (or 0)");
  check(ackOrder_, "v2 publish acks whose offset is not after the publisher's previous one");
  check(joinErrors_, "v2 joins refused");
  check(notRecovered_, "v2 re-joins with since not recovered");
  check(epochChanges_, "v2 epoch changes");
  check(joinOffsetMismatch_, "v2 recovered joins whose offset is not their messages' last");
  check(joinUnexpectedMessages_, "v2 first joins with messages (join_messages is 0)");
  check(gaps_, "v2 offsets missed (gaps)");
  check(duplicates_, "v2 offsets seen twice or out of order");
  check(pushBeforeJoin_, "v2 message pushes before the join reply");
  check(contentMismatch_, "v2 offsets whose data differ between ack and members");
  check(foreign_, "v2 messages of another room");
  check(disconnects_, "v2 clients that lost their connection unasked");
  check(closeErrors_, "v2 close handshakes that failed");
  uint64_t unanswered = 0, behind = 0, notFromStart = 0, notExactlyOnce = 0;
  for (const Client& c : clients_) {
    unanswered += c.pending.size();
    const Room& room = rooms_[c.room];
    if (!c.everJoined || c.last < room.maxAck) ++behind;
    if (c.everJoined && c.last >= c.firstOffset && c.seen != c.last - c.firstOffset + 1) {
      ++notExactlyOnce;
    }
    if (c.role == Role::kStable && c.firstOffset != 1) ++notFromStart;
  }
  check(unanswered, "v2 publishes never answered");
  check(behind, "v2 clients that did not see their room's last acked offset");
  check(notExactlyOnce, "v2 clients that did not see every offset since their first join once");
  check(notFromStart, "v2 stable members that did not start at offset 1");
  for (const Room& room : rooms_) {
    // The acked offsets must be exactly 1..N, N the room's last, as a stable member saw them.
    if (room.acked.size() != room.maxAck) {
      failures.push_back(room.name + ": " + std::to_string(room.acked.size()) +
                         " distinct offsets acked, but the highest is " +
                         std::to_string(room.maxAck));
    }
    for (uint32_t i : room.clients) {
      const Client& c = clients_[i];
      if (c.role != Role::kStable) continue;
      if (c.last != room.maxAck) {
        failures.push_back(room.name + ": stable member " + c.name + " saw up to offset " +
                           std::to_string(c.last) + ", publishers were acked up to " +
                           std::to_string(room.maxAck));
      }
    }
    if (!room.presenceOk) {
      failures.push_back(
          room.name + ": presence at the end: " +
          (room.presenceProblem.empty() ? std::string("never checked") : room.presenceProblem));
    }
  }
  if (published_ == 0) failures.push_back("no v2 message was published");
  if (opt_.reconnecters > 0 && recoveries_ == 0) failures.push_back("no v2 recovery happened");
  if (!firstError_.empty()) failures.push_back("v2 first error: " + firstError_);
}

void V2Load::writeReport(bench::JsonWriter& w) const {
  using ull = unsigned long long;
  w.key("v2").beginObject();
  w.field("rooms", opt_.rooms);
  w.field("clients", static_cast<ull>(clients_.size()));
  w.field("pub_rate", opt_.pubRate);
  uint64_t unanswered = 0, publishers = 0, stables = 0, reconnecters = 0;
  uint64_t minReconnecterSeen = UINT64_MAX, maxReconnecterSeen = 0, stableSeen = 0;
  for (const Client& c : clients_) {
    unanswered += c.pending.size();
    publishers += c.role == Role::kPublisher;
    stables += c.role == Role::kStable;
    if (c.role == Role::kStable) stableSeen += c.seen;
    if (c.role == Role::kReconnecter) {
      ++reconnecters;
      minReconnecterSeen = std::min(minReconnecterSeen, c.seen);
      maxReconnecterSeen = std::max(maxReconnecterSeen, c.seen);
    }
  }
  w.field("publishers", static_cast<ull>(publishers));
  w.field("stable_members", static_cast<ull>(stables));
  w.field("reconnecters", static_cast<ull>(reconnecters));
  w.field("published", static_cast<ull>(published_));
  w.field("answered", static_cast<ull>(acks_));
  w.field("unanswered", static_cast<ull>(unanswered));
  w.field("publish_errors", static_cast<ull>(publishErrors_));
  w.field("delivered", static_cast<ull>(delivered_));
  w.field("stable_seen", static_cast<ull>(stableSeen));
  w.field("reconnecter_seen_min", static_cast<ull>(reconnecters ? minReconnecterSeen : 0));
  w.field("reconnecter_seen_max", static_cast<ull>(maxReconnecterSeen));
  w.field("drops", static_cast<ull>(drops_));
  w.field("drops_rst", static_cast<ull>(dropResets_));
  w.field("reconnects", static_cast<ull>(reconnects_));
  w.field("recoveries", static_cast<ull>(recoveries_));
  w.field("recovered_messages", static_cast<ull>(recoveredMessages_));
  w.field("not_recovered", static_cast<ull>(notRecovered_));
  w.field("rejoin_ms_p50", static_cast<double>(rejoinLatency_.valueAtPercentile(50)) / 1e6);
  w.field("rejoin_ms_p99", static_cast<double>(rejoinLatency_.valueAtPercentile(99)) / 1e6);
  w.field("rejoin_ms_max", static_cast<double>(rejoinLatency_.max()) / 1e6);
  w.field("gaps", static_cast<ull>(gaps_));
  w.field("duplicates", static_cast<ull>(duplicates_));
  w.field("content_mismatches", static_cast<ull>(contentMismatch_));
  w.field("push_before_join", static_cast<ull>(pushBeforeJoin_));
  w.field("epoch_changes", static_cast<ull>(epochChanges_));
  w.field("join_offset_mismatches", static_cast<ull>(joinOffsetMismatch_));
  w.field("unknown_replies", static_cast<ull>(unknownReplies_));
  w.field("ack_order_violations", static_cast<ull>(ackOrder_));
  w.field("disconnects", static_cast<ull>(disconnects_));
  w.field("close_errors", static_cast<ull>(closeErrors_));
  w.field("presence_max_members", static_cast<ull>(presenceMax_));
  w.field("first_error", firstError_);
  w.key("per_room").beginArray();
  for (const Room& room : rooms_) {
    w.beginObject();
    w.field("room", room.name);
    w.field("published", static_cast<ull>(room.published));
    w.field("acked_offsets", static_cast<ull>(room.acked.size()));
    w.field("top", static_cast<ull>(room.maxAck));
    w.field("presence_ok", room.presenceOk);
    w.field("presence_queries", static_cast<ull>(room.presenceQueries));
    w.field("presence_problem", room.presenceProblem);
    w.endObject();
  }
  w.endArray();
  w.endObject();
}

}  // namespace heimdallr::soak
