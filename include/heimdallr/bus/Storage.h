// The optional history and presence capability of a bus plugin (Bus::storage()). Plain values in,
// callbacks out; the threading contract is the Bus's: every method may be called from any thread
// after start(), none blocks on the network, and every callback runs exactly once on a thread the
// plugin owns (also when the backend is down or the bus stops: then with `error` set; a call made
// after stop() is answered at once on the caller's thread). A callback must not block and must not
// call back into the bus.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "heimdallr/bus/Bus.h"

namespace heimdallr::bus {

/// How much of a stream is kept: the newest `size` messages, for `ttlS` seconds after the newest
/// one (0: no expiry). The epoch and top offset live max(ttlS, metaTtlS) seconds, so that a client
/// coming back after the messages expired learns that it has a gap instead of seeing offsets
/// start again.
struct StreamLimits {
  uint64_t size = 0;
  uint32_t ttlS = 0;
  uint32_t metaTtlS = 0;
};

struct AppendResult {
  std::string error;  ///< empty on success
  uint64_t offset = 0;
  std::string epoch;
};

/// A slice of a stream, with the stream's state when it was read.
struct StreamRead {
  std::string error;  ///< empty on success
  std::string epoch;
  uint64_t top = 0;     ///< offset of the newest message ever appended in this epoch (0: none)
  uint64_t oldest = 1;  ///< offset of the oldest message still kept (top + 1 when none is)
  std::vector<BusMessagePtr> messages;  ///< oldest first, each with offset, epoch and subject
};

struct ReadRequest {
  uint64_t after = 0;     ///< only messages with a greater offset
  uint64_t limit = 0;     ///< at most this many; 0 reads the state only
  bool newest = false;    ///< the newest `limit` of them rather than the oldest
  uint32_t metaTtlS = 0;  ///< StreamLimits::metaTtlS, for the epoch a read of a new stream creates
};

/// One member of a room's presence set. `info` is JSON text ("" for none).
struct PresenceMember {
  std::string client;
  std::string user;
  std::string info;
  std::string node;
};

struct PresenceList {
  std::string error;  ///< empty on success
  std::vector<PresenceMember> members;
};

class Storage {
 public:
  virtual ~Storage() = default;

  /// Appends msg to the stream of msg->subject: the next offset, trimmed to limits.size, expiring
  /// limits.ttlS after the newest message; then publishes it with offset and epoch set, in the
  /// same atomic step, so every subscriber sees a stream's messages in offset order. A stream that
  /// was lost (expired, flushed) starts again at offset 1 with a new epoch.
  virtual void append(BusMessagePtr msg, const StreamLimits& limits,
                      std::function<void(AppendResult)> done) = 0;

  /// Reads the stream of `subject`. Reading a stream that does not exist creates its epoch, so a
  /// join reports an epoch that the next append keeps.
  virtual void read(const std::string& subject, const ReadRequest& request,
                    std::function<void(StreamRead)> done) = 0;

  /// Adds or refreshes `member` in the presence set of `subject`; it expires after ttlS unless
  /// refreshed. Fire and forget: dropped while the backend is down (the host refreshes).
  virtual void presenceSet(const std::string& subject, const PresenceMember& member,
                           uint32_t ttlS) = 0;
  virtual void presenceRemove(const std::string& subject, const std::string& client) = 0;
  /// Every member whose entry has not expired, from every node.
  virtual void presenceList(const std::string& subject, std::function<void(PresenceList)> done) = 0;
};

}  // namespace heimdallr::bus
