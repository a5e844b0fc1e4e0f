#include "cluster/ClusterStats.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>

#include <algorithm>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "heimdallr/bus/Subject.h"
#include "room/RoomId.h"

namespace heimdallr::cluster {

namespace {
using std::chrono::milliseconds;

// The payload is one flat object; nothing in it nests deeper than the rooms map.
constexpr std::size_t kMaxJsonDepth = 4;
// Counts are per node; anything beyond 32 bits is nonsense, and bounding them keeps the sums far
// from overflowing however many nodes report.
constexpr int64_t kMaxCount = std::numeric_limits<uint32_t>::max();
// The range of stats.interval_s, in milliseconds.
constexpr int64_t kMinIntervalMs = 1000;
constexpr int64_t kMaxIntervalMs = 3600 * 1000;

Poco::Logger& logger() { return Poco::Logger::get("heimdallr.cluster"); }

int64_t realtimeNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A node id is one subject token of the same alphabet as room ids.
bool isValidNodeId(std::string_view id) { return room::isValidRoomId(id); }

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) out.push_back(c >= ' ' && c < 0x7f ? c : '?');
  if (text.size() > 80) out += "...";
  return out;
}

// A non-negative integer no larger than `max`; throws std::invalid_argument naming `what`.
int64_t countFrom(const Poco::Dynamic::Var& value, const std::string& what, int64_t max) {
  if (value.isEmpty() || value.isBoolean() || !value.isInteger()) {
    throw std::invalid_argument(what + " is not an integer");
  }
  int64_t count = 0;
  if (value.isSigned()) {
    count = value.convert<Poco::Int64>();
  } else {
    const auto unsignedCount = value.convert<Poco::UInt64>();
    if (unsignedCount > static_cast<Poco::UInt64>(max)) {
      throw std::invalid_argument(what + " is out of range");
    }
    count = static_cast<int64_t>(unsignedCount);
  }
  if (count < 0 || count > max) throw std::invalid_argument(what + " is out of range");
  return count;
}

std::string encodePayload(const NodeStats& stats, milliseconds interval) {
  Poco::JSON::Object body;
  body.set("connections", static_cast<Poco::Int64>(stats.connections));
  body.set("tcp_connections", static_cast<Poco::Int64>(stats.tcpConnections));
  body.set("interval_ms", static_cast<Poco::Int64>(interval.count()));
  Poco::JSON::Object::Ptr rooms = new Poco::JSON::Object;
  for (const auto& [room, members] : stats.rooms)
    rooms->set(room, static_cast<Poco::Int64>(members));
  body.set("rooms", rooms);
  std::ostringstream out;
  body.stringify(out);
  return out.str();
}

struct Report {
  NodeStats stats;
  std::optional<milliseconds> interval;
};

// Parses a stats message; throws (std::exception or Poco::Exception) when it is not one.
Report decodeReport(const bus::BusMessage& msg) {
  if (!isValidNodeId(msg.origin)) throw std::invalid_argument("origin is not a valid node id");
  if (msg.subject != std::string(ClusterStats::kSubjectPrefix) + msg.origin) {
    throw std::invalid_argument("subject does not match the origin");
  }
  Poco::JSON::Parser parser;
  parser.setDepth(kMaxJsonDepth);
  const Poco::Dynamic::Var parsed = parser.parse(msg.payload);
  if (parsed.type() != typeid(Poco::JSON::Object::Ptr)) {
    throw std::invalid_argument("payload is not a JSON object");
  }
  const auto object = parsed.extract<Poco::JSON::Object::Ptr>();
  Report report;
  report.stats.node = msg.origin;
  report.stats.connections = countFrom(object->get("connections"), "connections", kMaxCount);
  report.stats.tcpConnections =
      countFrom(object->get("tcp_connections"), "tcp_connections", kMaxCount);
  if (object->has("interval_ms")) {
    const int64_t intervalMs = countFrom(object->get("interval_ms"), "interval_ms", kMaxIntervalMs);
    if (intervalMs < kMinIntervalMs) throw std::invalid_argument("interval_ms is out of range");
    report.interval = milliseconds(intervalMs);
  }
  const auto rooms = object->getObject("rooms");
  if (!rooms) throw std::invalid_argument("rooms is not an object");
  for (const auto& [room, members] : *rooms) {
    if (!room::isValidRoomId(room)) throw std::invalid_argument("invalid room id");
    const int64_t count = countFrom(members, "members of a room", kMaxCount);
    if (count > 0) report.stats.rooms.emplace(room, count);
  }
  return report;
}
}  // namespace

ClusterStats::ClusterStats(bus::Bus& bus, std::string nodeId, milliseconds interval,
                           LocalStats localStats)
    : bus_(bus),
      nodeId_(std::move(nodeId)),
      interval_(interval),
      localStats_(std::move(localStats)) {
  if (!isValidNodeId(nodeId_)) {
    throw std::invalid_argument("node id \"" + printable(nodeId_) +
                                "\" cannot be a bus subject token: expected [A-Za-z0-9_-]{1,64}");
  }
  if (interval_ <= milliseconds::zero()) {
    throw std::invalid_argument("stats interval must be positive");
  }
}

ClusterStats::~ClusterStats() { stop(); }

void ClusterStats::start() {
  if (subscription_ || publisher_.joinable()) return;
  subscription_ = bus_.subscribe(std::string(kPattern), [this](const bus::BusMessagePtr& msg) {
    if (msg) receive(*msg, Clock::now());
  });
  {
    std::lock_guard lock(timerMutex_);
    stopping_ = false;
  }
  publisher_ = std::thread([this] { publishLoop(); });
}

void ClusterStats::stop() {
  {
    std::lock_guard lock(timerMutex_);
    stopping_ = true;
  }
  timerWake_.notify_all();
  if (publisher_.joinable()) publisher_.join();
  if (subscription_) {
    bus_.unsubscribe(*subscription_);
    subscription_.reset();
  }
}

// Publisher thread: one report at once, then one per interval on a fixed cadence.
void ClusterStats::publishLoop() {
  auto next = Clock::now();
  std::unique_lock lock(timerMutex_);
  while (!stopping_) {
    lock.unlock();
    publishOnce();
    lock.lock();
    next += interval_;
    const auto now = Clock::now();
    if (next < now) next = now + interval_;  // fell behind (suspended?): do not burst
    timerWake_.wait_until(lock, next, [this] { return stopping_; });
  }
}

void ClusterStats::publishOnce() {
  try {
    bus_.publish(makeReport(localStats_()));
  } catch (const std::exception& e) {
    logger().warning("cannot publish this node's stats: %s", std::string(e.what()));
  }
}

bus::BusMessagePtr ClusterStats::makeReport(const NodeStats& stats) const {
  auto msg = std::make_shared<bus::BusMessage>();
  msg->subject = std::string(kSubjectPrefix) + nodeId_;
  msg->origin = nodeId_;
  msg->payload = encodePayload(stats, interval_);
  msg->originTimeNs = realtimeNs();
  return msg;
}

bool ClusterStats::receive(const bus::BusMessage& msg, Clock::time_point now) {
  try {
    Report report = decodeReport(msg);
    const milliseconds ttl =
        kExpiryIntervals * std::max(interval_, report.interval.value_or(interval_));
    const std::string node = report.stats.node;
    std::lock_guard lock(viewMutex_);
    std::erase_if(heard_, [now](const auto& entry) { return expired(entry.second, now); });
    heard_.insert_or_assign(node, Heard{std::move(report.stats), now, ttl});
    return true;
  } catch (const Poco::Exception& e) {
    logger().debug("ignoring a malformed stats message on %s from %s: %s", printable(msg.subject),
                   printable(msg.origin), e.displayText());
  } catch (const std::exception& e) {
    logger().debug("ignoring a malformed stats message on %s from %s: %s", printable(msg.subject),
                   printable(msg.origin), std::string(e.what()));
  } catch (...) {
    logger().debug("ignoring a malformed stats message on %s", printable(msg.subject));
  }
  return false;
}

ClusterSnapshot ClusterStats::snapshot(Clock::time_point now) const {
  ClusterSnapshot snapshot;
  std::lock_guard lock(viewMutex_);
  for (const auto& [node, heard] : heard_) {
    if (expired(heard, now)) continue;
    const auto age = std::chrono::duration_cast<milliseconds>(now - heard.at).count();
    snapshot.nodes.push_back({heard.stats, std::max<int64_t>(0, age)});
    snapshot.totals.connections += heard.stats.connections;
    snapshot.totals.tcpConnections += heard.stats.tcpConnections;
    for (const auto& [room, members] : heard.stats.rooms) snapshot.totals.rooms[room] += members;
  }
  return snapshot;
}

}  // namespace heimdallr::cluster
