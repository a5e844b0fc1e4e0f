#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ClientConnection.h"

namespace heimdallr::bench {

/// Closed-loop probes of one operation at a time (S6): `presence` (members joining a room that
/// keeps presence, then `presence` commands) and `recovery` (a member that misses messages while
/// disconnected and gets them back when it reconnects). Both print one JSON report on stdout.
struct ProbeOptions {
  Protocol protocol = Protocol::kV2;  // presence: v2 only; recovery: v2 or socketio
  std::vector<Endpoint> targets;      // members round-robin (recovery: see runRecoveryProbe)
  std::string room = "bench-probe";
  uint32_t members = 1000;  // presence: members that join
  uint32_t calls = 200;     // presence: measured `presence` commands
  uint32_t reps = 20;       // recovery: measured disconnect/reconnect cycles
  uint32_t warmupReps = 2;  // unmeasured cycles (or presence calls) first
  uint32_t missed = 100;    // recovery: messages published while the member is away
  double pauseS = 0.05;     // recovery: wait after the last missed message, before reconnecting
  uint32_t connectConcurrency = 256;
  double timeoutS = 10;          // longest wait for any one step
  std::vector<pid_t> watchPids;  // server processes (and Redis) whose CPU is reported
  size_t payloadSize = 128;
  std::string label;
};

/// `members` v2 members connect (`connectConcurrency` at a time), then all send `join` at once;
/// reports the join phase's wall time, each join's latency (command to reply), the members in the
/// replies, then `calls` `presence` commands one after another from members in turn (so on every
/// node), their latency and member counts, and the servers' CPU in each phase.
/// Exit code 0, or 3 when a step failed or timed out (the report says which).
int runPresenceProbe(const ProbeOptions& options);

/// A publisher (on the first target) and a member in one room. Each cycle: the publisher sends a
/// marker the member receives (its position: v2 offset and epoch, or Socket.IO's packet offset and
/// session pid); the member's socket is dropped (no close frame); the publisher sends `missed`
/// messages and waits for its own echoes (v2: and acknowledgements); after `pauseS` the member
/// reconnects, to the next target in turn, and asks for what it missed (v2: `join` with `since`;
/// Socket.IO: the namespace CONNECT with `pid` and `offset`). Measured per cycle: from that
/// request to the last missed message (v2: the join reply that holds them), and from the new
/// socket's connect() to the same point; a cycle passes when exactly the missed messages came
/// back, in order. Exit code 0, or 3 when a cycle failed or timed out.
int runRecoveryProbe(const ProbeOptions& options);

}  // namespace heimdallr::bench
