#pragma once

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <cstdint>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "Histogram.h"
#include "JsonWriter.h"
#include "SoakConnection.h"

namespace heimdallr::soak {

/// The protocol-v2 part of the soak (docs/PROTOCOL.md), in rooms `<prefix>-0`, `<prefix>-1`, ...
/// that the server keeps history (and presence) for.
struct V2Options {
  uint32_t rooms = 0;         // 0: no v2 load
  uint32_t pubsPerNode = 1;   // publishers per room and node (joined: they also receive)
  uint32_t subsPerNode = 1;   // stable members per room and node
  uint32_t reconnecters = 4;  // per room, spread over the nodes; each reconnects to a random node
  double pubRate = 10;        // publishes/s per publisher
  double stayMinS = 0.5;      // a reconnecter stays joined uniform [min, max] ...
  double stayMaxS = 4;
  double awayMinS = 0.1;  // ... then drops its TCP connection (FIN or RST, no close frame)
  double awayMaxS = 2;    // and is away uniform [min, max] before it reconnects and recovers
  std::string roomPrefix = "v2";
};

/// The v2 load, on the soak driver's epoll set and thread. Every client upgrades on "/" with
/// `Sec-WebSocket-Protocol: heimdallr.v2`, sends `connect` and joins its room. Publishers
/// publish `{"seq":k,"from":"p<i>"}` at a fixed rate and must get exactly one reply per publish,
/// an `ok` with an offset no other publish got. Stable members and publishers stay connected;
/// reconnecters repeatedly drop their connection abruptly, come back (to any node) and join with
/// `since` = the last offset they saw: the reply must say `recovered: true`, and its messages
/// and the pushes after it must continue the offsets with no gap and no repeat. At the end every
/// member must have seen every offset from its first join to the room's last exactly once and in
/// order, the acked offsets must be exactly 1..N, every offset must carry the same data for all,
/// and the room's presence must list exactly the members connected then.
class V2Load final : private SoakConnection::Listener {
 public:
  V2Load(V2Options options, std::vector<Endpoint> targets, double closeTimeoutS, uint64_t seed,
         int epollFd);
  ~V2Load() override;

  bool enabled() const { return opt_.rooms > 0; }
  size_t clientCount() const { return clients_.size(); }

  // Set-up: connect() then poll until ready() (every client joined) or setupError() is set.
  void connect();
  bool ready() const;
  const std::string& setupError() const { return setupError_; }

  /// The load: publishes on schedule, reconnecters drop and come back. tick() runs what is due;
  /// wakeNs() is when it next needs a tick.
  void startLoad(uint64_t nowNs);
  void tick(uint64_t nowNs);
  uint64_t wakeNs() const;
  /// No more publishes or drops; reconnecters that are away still come back.
  void stopLoad();
  /// The drain: true once every publish is answered, every client is joined and has seen the
  /// room's last offset, and the room's presence (asked by its stable members) lists exactly the
  /// clients connected.
  bool settled(uint64_t nowNs);

  /// The end: close handshakes for everyone; allClosed() then; abortRemaining() after a timeout.
  void closeAll();
  bool allClosed() const;
  void abortRemaining();

  /// Destroys connections closed during the last poll (their callbacks have returned).
  void afterPoll() { graveyard_.clear(); }

  std::string statusText() const;
  void addFailures(std::vector<std::string>& failures) const;
  void writeReport(bench::JsonWriter& w) const;

 private:
  enum class Role : uint8_t { kPublisher, kStable, kReconnecter };
  enum class Phase : uint8_t { kAway, kOpening, kConnecting, kJoining, kJoined, kClosing, kGone };

  struct Client {
    Role role = Role::kStable;
    uint32_t room = 0;
    uint32_t index = 0;  // among the clients of its role (publishers: the "from" p<index>)
    std::string name;
    std::unique_ptr<SoakConnection> conn;
    uint64_t gen = 0;  // bumped per connection: timers of an older one are stale
    Phase phase = Phase::kAway;
    bool dropping = false;  // we are aborting this connection: the close is ours
    uint64_t nextId = 1;
    uint64_t connectId = 0, joinId = 0, presenceId = 0;
    uint64_t joinSentNs = 0;
    std::string clientId;  // of the current connection (connect reply)
    // What it has seen of its room.
    bool everJoined = false;
    std::string epoch;
    uint64_t firstOffset = 0;  // the first offset it must see: its first join's offset + 1
    uint64_t last = 0;         // the last offset seen (or skipped past after a failed recovery)
    uint64_t seen = 0;         // offsets seen, each once
    uint64_t connections = 0;
    uint64_t recoveries = 0;  // re-joins answered recovered:true
    uint64_t recoveredMessages = 0;
    // Publishers.
    uint64_t seq = 0;
    uint64_t nextNs = 0;
    std::unordered_map<uint64_t, uint64_t> pending;  // request id -> seq
    uint64_t acked = 0;
    uint64_t lastAckOffset = 0;
  };
  struct Room {
    std::string name;
    std::vector<uint32_t> clients;
    std::vector<uint64_t> content;  // offset -> (publisher + 1) << 40 | seq, 0 unknown
    std::unordered_set<uint64_t> acked;
    uint64_t maxAck = 0;
    uint64_t published = 0;
    bool presenceOk = false;
    std::string presenceProblem;
    uint64_t presenceQueries = 0;
  };
  struct Timer {
    uint64_t atNs;
    uint32_t client;
    uint64_t gen;
    uint8_t kind;  // 0 drop, 1 reconnect
    bool operator>(const Timer& o) const { return atNs > o.atNs; }
  };
  using Json = Poco::JSON::Object::Ptr;

  void onOpen(SoakConnection& conn) override;
  void onMessage(SoakConnection& conn, std::string_view payload, uint64_t recvNs) override;
  void onClosed(SoakConnection& conn, bool clean, const std::string& why) override;

  void open(uint32_t client, const Endpoint& target);
  void drop(Client& c, uint64_t nowNs);
  uint64_t send(Client& c, const std::string& command, const std::string& bodyJson);
  void onReply(Client& c, const Json& msg, uint64_t id);
  void onJoinReply(Client& c, const Json& msg);
  void onAck(Client& c, const Json& msg, uint64_t seq);
  void onPresenceReply(Client& c, const Json& msg);
  /// One message of the room at `offset`, from a push or a join reply.
  void observe(Client& c, uint64_t offset, const Json& data, bool fromJoin);
  void noteContent(Room& room, uint64_t offset, uint64_t packed, const std::string& where);
  void queryPresence(uint64_t nowNs);
  bool caughtUp() const;
  void violation(uint64_t& counter, const std::string& text, uint64_t n = 1);
  Client* clientOf(const SoakConnection& conn);
  double uniform(double lo, double hi);

  V2Options opt_;
  std::vector<Endpoint> targets_;
  double closeTimeoutS_;
  int epollFd_;
  std::mt19937_64 rng_;
  Poco::JSON::Parser parser_;

  std::vector<Client> clients_;
  std::vector<Room> rooms_;
  std::unordered_map<uint64_t, uint32_t> byConn_;  // connection id -> client
  std::vector<std::unique_ptr<SoakConnection>> graveyard_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t nextConnId_ = 0;
  bool loading_ = false, closing_ = false;
  uint64_t periodNs_ = 0;
  uint64_t nextPresenceNs_ = 0;
  bool presencePhase_ = false;
  std::string setupError_;

  bench::Histogram rejoinLatency_;  // join with since sent -> its reply
  uint64_t published_ = 0, acks_ = 0, reconnects_ = 0, recoveries_ = 0, recoveredMessages_ = 0;
  uint64_t drops_ = 0, dropResets_ = 0, delivered_ = 0, presenceMax_ = 0;
  // Violations.
  uint64_t unparsed_ = 0, publishErrors_ = 0, unknownReplies_ = 0, ackWithoutOffset_ = 0;
  uint64_t ackOffsetReused_ = 0, ackOrder_ = 0, joinErrors_ = 0, notRecovered_ = 0;
  uint64_t epochChanges_ = 0, joinOffsetMismatch_ = 0, joinUnexpectedMessages_ = 0;
  uint64_t gaps_ = 0, duplicates_ = 0, pushBeforeJoin_ = 0, contentMismatch_ = 0;
  uint64_t foreign_ = 0, disconnects_ = 0, closeErrors_ = 0, presenceErrors_ = 0;
  uint64_t connectErrors_ = 0;
  std::string firstError_;
};

}  // namespace heimdallr::soak
