#pragma once

#include <cstdint>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "Histogram.h"
#include "SequenceTracker.h"
#include "SoakConnection.h"
#include "V2Load.h"

namespace heimdallr::soak {

/// What one soak run does (main.cpp's usage text lists the flags).
struct SoakOptions {
  std::vector<Endpoint> targets;  // the nodes; stable members and publishers go to every one
  double durationS = 600;         // load phase, from the end of the subscription probes
  uint32_t rooms = 8;
  uint32_t subsPerNode = 2;  // stable subscribers per room and node
  uint32_t pubsPerNode = 1;  // stable publishers per room and node (they also receive)
  double pubRate = 10;       // messages/s per publisher
  size_t payloadSize = 128;
  double churnRate = 20;          // short-lived connections started per second
  double churnMinS = 0.2;         // their lifetime, uniform in [min, max]
  double churnMaxS = 3;           //
  double churnSendShare = 0.5;    // share of churners that send one message (and await its echo)
  double ephemeralShare = 0.3;    // share of churners alone in a fresh room (created, destroyed)
  double earlyAbortShare = 0.05;  // share that drop the TCP connection during the upgrade
  double drainS = 10;             // longest wait for the last messages after the load stops
  double closeTimeoutS = 5;       // a close handshake or an echo must complete within this
  double statusS = 5;             // progress line period (stderr)
  std::string reportPath;         // JSON summary; empty = stdout
  std::string roomPrefix = "soak";
  uint64_t seed = 1;
  V2Options v2;  // the protocol-v2 load beside the raw one (v2.rooms 0: none)
};

/// The soak load on one epoll thread: stable members (subscribers and publishers, each room on
/// every node) that must receive every stable publisher's message exactly once and in order,
/// plus continuous churn — short-lived clients joining main rooms or rooms of their own, sending,
/// and leaving by close handshake, FIN or RST. Prints "READY" on stdout when every stable
/// member hears every publisher of its room (the load starts), progress on stderr, a JSON summary
/// at the end. With v2.rooms > 0 the same thread also runs the protocol-v2 load (V2Load.h):
/// acknowledged publishes, and members that drop their connection and recover by offset.
/// Not thread-safe: run() is called once.
class SoakDriver final : private SoakConnection::Listener {
 public:
  explicit SoakDriver(SoakOptions options);
  ~SoakDriver() override;

  /// The process exit code: 0 passed, 2 could not set up, 3 a check failed.
  int run();

 private:
  struct Member {
    std::unique_ptr<SoakConnection> conn;
    uint32_t room = 0;
    int32_t publisher = -1;                        // global publisher index, or -1
    std::vector<bench::SequenceTracker> trackers;  // per publisher of the room (room order)
    std::vector<uint64_t> unique;                  // per publisher of the room
    std::vector<bool> heardProbe;                  // per publisher of the room
    bool open = false;
  };
  struct Publisher {
    uint32_t member = 0;
    uint32_t room = 0;
    uint32_t indexInRoom = 0;
    uint64_t sent = 0;
    uint64_t nextNs = 0;
  };
  struct Churner {
    std::unique_ptr<SoakConnection> conn;
    uint32_t room = 0;  // UINT32_MAX: a room of its own
    enum class Leave : uint8_t { kGraceful, kFin, kReset, kEarlyAbort } leave = Leave::kGraceful;
    bool sends = false;
    bool sent = false;
    bool echoed = false;
    bool opened = false;
    bool leaving = false;       // the driver started its leave: the close that follows is ours
    bool awaitingEcho = false;  // its lifetime is over, but its own message has not come back
    bool timedOut = false;      // its close handshake or its echo took too long
    uint64_t startNs = 0;
    std::string message;
    std::unordered_map<uint32_t, uint64_t> lastSeq;  // stable publisher -> last seq received
  };
  struct Timer {
    uint64_t atNs;
    uint64_t churnId;
    uint8_t kind;  // 0 leave, 1 close or echo deadline
    bool operator>(const Timer& o) const { return atNs > o.atNs; }
  };

  void onOpen(SoakConnection& conn) override;
  void onMessage(SoakConnection& conn, std::string_view payload, uint64_t recvNs) override;
  void onClosed(SoakConnection& conn, bool clean, const std::string& why) override;

  bool connectStable();
  bool probeSubscriptions();
  void loadPhase();
  void drainPhase();
  void closeStable();
  void poll(uint64_t untilNs);
  void sendDue(uint64_t now);
  void startChurner(uint64_t now);
  void churnerLeave(Churner& c, uint64_t now);
  void runTimers(uint64_t now);
  void status(uint64_t now, bool final);
  bool allDelivered() const;
  int writeReport();
  std::string roomName(uint32_t room) const;
  Churner* churner(uint64_t id);
  bool isStable(uint64_t id) const { return id < members_.size(); }

  SoakOptions opt_;
  int epollFd_ = -1;
  std::mt19937_64 rng_;
  std::vector<char> scratch_;
  std::string payloadBuf_;

  std::unique_ptr<V2Load> v2_;
  std::vector<Member> members_;
  std::vector<Publisher> publishers_;
  std::vector<std::vector<uint32_t>> roomPublishers_;  // room -> global publisher indexes
  std::unordered_map<uint64_t, Churner> churners_;
  std::vector<std::unique_ptr<SoakConnection>> graveyard_;  // closed; destroyed after a poll
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  uint64_t nextChurnId_ = 0;
  uint64_t nextChurnNs_ = 0;
  bool churning_ = false;

  uint64_t loadStartNs_ = 0, loadEndNs_ = 0, lastStatusNs_ = 0;
  bench::Histogram latency_, windowLatency_;
  uint64_t windowDelivered_ = 0;

  // Checks on stable members.
  uint64_t delivered_ = 0, duplicates_ = 0, outOfOrder_ = 0, foreign_ = 0, unparsed_ = 0;
  uint64_t stableDisconnects_ = 0, stableCloseErrors_ = 0;
  bool closingStable_ = false;
  std::string firstStableDisconnect_;
  uint64_t churnSeenByStable_ = 0;
  // Churn.
  uint64_t churnStarted_ = 0, churnOpened_ = 0, churnFailed_ = 0, churnCleanCloses_ = 0;
  uint64_t churnCloseErrors_ = 0, churnCloseTimeouts_ = 0, churnFins_ = 0, churnResets_ = 0;
  uint64_t churnEarlyAborts_ = 0, churnGaps_ = 0, churnOrderViolations_ = 0;
  uint64_t churnEchoMissing_ = 0, churnSent_ = 0, churnReceived_ = 0, churnEphemeral_ = 0;
  std::string firstChurnError_;
  std::string setupError_;
};

}  // namespace heimdallr::soak
