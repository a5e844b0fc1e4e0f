#pragma once

#include <hiredis/hiredis.h>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "ChannelNames.h"
#include "heimdallr/bus/Storage.h"

namespace heimdallr::bus {

/// The Lua scripts behind the Redis plugin's Storage (Centrifugo's design), the commands that run
/// them and the parsing of their replies. Pure: thread-safe.
///
/// Keys of a subject S (see ChannelNames::key):
///   <prefix>.meta.S          hash: `e` epoch, `t` top offset; expires metaTtlS after an append
///   <prefix>.stream.S        stream: entry id 0-<offset>, field `d` the envelope (Envelope.h)
///   <prefix>.presence.S      hash: client id -> encodePresenceMember bytes
///   <prefix>.presence-exp.S  zset: client id -> expiry (unix ms, Redis's clock)
/// Each script touches only the keys of one subject, which it gets as KEYS (cluster-friendly).
class StorageScripts {
 public:
  enum Script : size_t { kAppend, kRead, kPresenceSet, kPresenceRemove, kPresenceList, kCount };

  /// One script call: EVALSHA <sha> or EVAL <source>, then the keys and arguments.
  struct Call {
    Script script = kAppend;
    std::vector<std::string> keys;
    std::vector<std::string> args;

    /// The whole command, pointing into this call (and `sha`): valid while both live.
    /// `sha` empty: EVAL with the source.
    void argv(const std::string& sha, std::vector<const char*>& pointers,
              std::vector<size_t>& lengths) const;
  };

  static const std::string& source(Script script);

  /// Appends `msg` with its offset and epoch filled in by the script, which also publishes it on
  /// the subject's channel. `candidateEpoch` is used only when the stream has no meta.
  static Call append(const ChannelNames& names, const BusMessage& msg, const StreamLimits& limits,
                     const std::string& candidateEpoch);
  static Call read(const ChannelNames& names, const std::string& subject,
                   const ReadRequest& request, const std::string& candidateEpoch);
  static Call presenceSet(const ChannelNames& names, const std::string& subject,
                          const PresenceMember& member, uint32_t ttlS);
  static Call presenceRemove(const ChannelNames& names, const std::string& subject,
                             const std::string& client);
  static Call presenceList(const ChannelNames& names, const std::string& subject);

  /// Replies (never null, never an error reply: the caller handles those). A reply of an
  /// unexpected shape gives a result with `error` set. `malformed` counts skipped entries.
  static AppendResult parseAppend(const redisReply& reply);
  static StreamRead parseRead(const redisReply& reply, const std::string& subject, bool newest,
                              size_t& malformed);
  static PresenceList parsePresenceList(const redisReply& reply, size_t& malformed);
};

}  // namespace heimdallr::bus
