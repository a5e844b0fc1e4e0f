#include "StorageScripts.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>

#include "heimdallr/bus/Envelope.h"

namespace heimdallr::bus {

namespace {

// KEYS: meta, stream. ARGV: the envelope before its offset (bytes 0-13), its origin field, what
// follows its epoch field (senderClient, senderUser, payload), the candidate epoch, MAXLEN, the
// stream's TTL and the meta's TTL in seconds (0: none), the channel. The meta is created (and a
// stale stream dropped) when missing; the envelope gets the new offset and the stream's epoch.
const std::string kAppendSource = R"lua(
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[4]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch)
end
local top = redis.call('HINCRBY', KEYS[1], 't', 1)
local envelope = ARGV[1] .. struct.pack('<I4I4', top % 4294967296, math.floor(top / 4294967296))
  .. ARGV[2] .. string.char(#epoch) .. epoch .. ARGV[3]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], string.format('0-%d', top), 'd', envelope)
if ARGV[6] ~= '0' then redis.call('EXPIRE', KEYS[2], ARGV[6]) end
if ARGV[7] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[7]) end
redis.call('PUBLISH', ARGV[8], envelope)
return {top, epoch}
)lua";

// KEYS: meta, stream. ARGV: the candidate epoch, the meta's TTL (0: none), the first entry id
// wanted (0-<after+1>), the limit (0: the state only), '1' for the newest rather than the oldest.
// Returns {epoch, top, id of the oldest kept entry or '', entries}.
const std::string kReadSource = R"lua(
local meta = redis.call('HMGET', KEYS[1], 'e', 't')
local epoch, top = meta[1], meta[2]
if not epoch then
  epoch = ARGV[1]
  top = '0'
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 't', '0')
  if ARGV[2] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
end
if not top then top = '0' end
local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local oldest = ''
if #first > 0 then oldest = first[1][1] end
local entries = {}
if ARGV[4] ~= '0' then
  if ARGV[5] == '1' then
    entries = redis.call('XREVRANGE', KEYS[2], '+', ARGV[3], 'COUNT', ARGV[4])
  else
    entries = redis.call('XRANGE', KEYS[2], ARGV[3], '+', 'COUNT', ARGV[4])
  end
end
return {epoch, top, oldest, entries}
)lua";

// Expiry times come from Redis's clock (TIME), so the nodes' clocks do not matter. Before Redis 5
// a script had to ask for effects replication to write after TIME.
const std::string kNowMs = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
)lua";

// KEYS: presence, presence-exp. ARGV: client, member bytes, TTL in seconds.
const std::string kPresenceSetSource = kNowMs + R"lua(
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]) * 1000, ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
)lua";

// KEYS: presence, presence-exp. ARGV: client.
const std::string kPresenceRemoveSource = R"lua(
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
)lua";

// KEYS: presence, presence-exp. Drops the expired members, returns HGETALL of the rest.
const std::string kPresenceListSource = kNowMs + R"lua(
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #expired, 1000 do
  redis.call('HDEL', KEYS[1], unpack(expired, i, math.min(i + 999, #expired)))
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
return redis.call('HGETALL', KEYS[1])
)lua";

std::string_view text(const redisReply* r) {
  if (r == nullptr || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)) return {};
  return {r->str, r->len};
}

bool isText(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

std::optional<uint64_t> number(std::string_view digits) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
    return std::nullopt;
  }
  return value;
}

std::optional<uint64_t> integer(const redisReply* r) {
  if (r == nullptr) return std::nullopt;
  if (r->type == REDIS_REPLY_INTEGER) {
    if (r->integer < 0) return std::nullopt;
    return static_cast<uint64_t>(r->integer);
  }
  if (isText(r)) return number(text(r));
  return std::nullopt;
}

/// "0-<offset>" -> offset.
std::optional<uint64_t> offsetOfId(std::string_view id) {
  if (id.substr(0, 2) != "0-") return std::nullopt;
  return number(id.substr(2));
}

std::string seconds(uint32_t value) { return std::to_string(value); }

}  // namespace

void StorageScripts::Call::argv(const std::string& sha, std::vector<const char*>& pointers,
                                std::vector<size_t>& lengths) const {
  static const std::string kEval = "EVAL";
  static const std::string kEvalSha = "EVALSHA";
  static const std::array<std::string, 4> kKeyCounts = {"0", "1", "2", "3"};
  pointers.clear();
  lengths.clear();
  const auto add = [&](const std::string& arg) {
    pointers.push_back(arg.data());
    lengths.push_back(arg.size());
  };
  add(sha.empty() ? kEval : kEvalSha);
  add(sha.empty() ? source(script) : sha);
  add(kKeyCounts.at(keys.size()));
  for (const auto& key : keys) add(key);
  for (const auto& arg : args) add(arg);
}

const std::string& StorageScripts::source(Script script) {
  static const std::array<const std::string*, kCount> sources = {
      &kAppendSource, &kReadSource, &kPresenceSetSource, &kPresenceRemoveSource,
      &kPresenceListSource};
  return *sources[script];
}

StorageScripts::Call StorageScripts::append(const ChannelNames& names, const BusMessage& msg,
                                            const StreamLimits& limits,
                                            const std::string& candidateEpoch) {
  // The envelope as encoded, cut around the two fields the script fills in: the offset (bytes
  // 14-21) and the epoch (the text field after the origin).
  const std::string envelope = encodeEnvelope(msg);
  const size_t originField = kEnvelopeFixedBytes;
  const size_t originLen = static_cast<unsigned char>(envelope[originField]);
  const size_t epochField = originField + 1 + originLen;
  const size_t epochLen = static_cast<unsigned char>(envelope[epochField]);
  const size_t rest = epochField + 1 + epochLen;
  const uint32_t metaTtl = std::max(limits.ttlS, limits.metaTtlS);
  Call call;
  call.script = kAppend;
  call.keys = {names.key("meta", msg.subject), names.key("stream", msg.subject)};
  call.args = {envelope.substr(0, 14),
               envelope.substr(originField, 1 + originLen),
               envelope.substr(rest),
               candidateEpoch,
               std::to_string(limits.size),
               seconds(limits.ttlS),
               seconds(metaTtl),
               names.channel(msg.subject)};
  return call;
}

StorageScripts::Call StorageScripts::read(const ChannelNames& names, const std::string& subject,
                                          const ReadRequest& request,
                                          const std::string& candidateEpoch) {
  // Redis parses COUNT as a signed 64-bit integer; no offset follows the largest one.
  constexpr uint64_t kMaxCount = std::numeric_limits<int64_t>::max();
  const bool none = request.after == std::numeric_limits<uint64_t>::max();
  const uint64_t limit = none ? 0 : std::min(request.limit, kMaxCount);
  Call call;
  call.script = kRead;
  call.keys = {names.key("meta", subject), names.key("stream", subject)};
  call.args = {candidateEpoch, seconds(request.metaTtlS),
               "0-" + std::to_string(none ? request.after : request.after + 1),
               std::to_string(limit), request.newest ? "1" : "0"};
  return call;
}

StorageScripts::Call StorageScripts::presenceSet(const ChannelNames& names,
                                                 const std::string& subject,
                                                 const PresenceMember& member, uint32_t ttlS) {
  Call call;
  call.script = kPresenceSet;
  call.keys = {names.key("presence", subject), names.key("presence-exp", subject)};
  call.args = {member.client, encodePresenceMember(member), seconds(std::max<uint32_t>(ttlS, 1))};
  return call;
}

StorageScripts::Call StorageScripts::presenceRemove(const ChannelNames& names,
                                                    const std::string& subject,
                                                    const std::string& client) {
  Call call;
  call.script = kPresenceRemove;
  call.keys = {names.key("presence", subject), names.key("presence-exp", subject)};
  call.args = {client};
  return call;
}

StorageScripts::Call StorageScripts::presenceList(const ChannelNames& names,
                                                  const std::string& subject) {
  Call call;
  call.script = kPresenceList;
  call.keys = {names.key("presence", subject), names.key("presence-exp", subject)};
  return call;
}

AppendResult StorageScripts::parseAppend(const redisReply& reply) {
  AppendResult result;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 || !isText(reply.element[1])) {
    result.error = "redis: unexpected reply to the append script";
    return result;
  }
  const auto top = integer(reply.element[0]);
  if (!top || *top == 0) {
    result.error = "redis: unexpected offset from the append script";
    return result;
  }
  result.offset = *top;
  result.epoch.assign(text(reply.element[1]));
  return result;
}

StreamRead StorageScripts::parseRead(const redisReply& reply, const std::string& subject,
                                     bool newest, size_t& malformed) {
  StreamRead result;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 4 || !isText(reply.element[0]) ||
      !isText(reply.element[2]) || reply.element[3]->type != REDIS_REPLY_ARRAY) {
    result.error = "redis: unexpected reply to the read script";
    return result;
  }
  const auto top = integer(reply.element[1]);
  if (!top) {
    result.error = "redis: unexpected top offset from the read script";
    return result;
  }
  result.epoch.assign(text(reply.element[0]));
  result.top = *top;
  const std::string_view oldestId = text(reply.element[2]);
  const auto oldest = oldestId.empty() ? std::optional<uint64_t>(*top + 1) : offsetOfId(oldestId);
  result.oldest = oldest ? *oldest : *top + 1;
  const redisReply& entries = *reply.element[3];
  result.messages.reserve(entries.elements);
  for (size_t i = 0; i < entries.elements; ++i) {
    const redisReply* entry = entries.element[i];
    std::optional<BusMessage> msg;
    std::optional<uint64_t> offset;
    if (entry->type == REDIS_REPLY_ARRAY && entry->elements == 2 && isText(entry->element[0]) &&
        entry->element[1]->type == REDIS_REPLY_ARRAY) {
      offset = offsetOfId(text(entry->element[0]));
      const redisReply& fields = *entry->element[1];
      for (size_t f = 0; f + 1 < fields.elements; f += 2) {
        if (text(fields.element[f]) == "d" && isText(fields.element[f + 1])) {
          msg = decodeEnvelope(text(fields.element[f + 1]), subject);
          break;
        }
      }
    }
    if (!msg || !offset || msg->offset != *offset) {
      ++malformed;
      continue;
    }
    result.messages.push_back(std::make_shared<const BusMessage>(std::move(*msg)));
  }
  if (newest) std::reverse(result.messages.begin(), result.messages.end());  // XREVRANGE
  return result;
}

PresenceList StorageScripts::parsePresenceList(const redisReply& reply, size_t& malformed) {
  PresenceList result;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements % 2 != 0) {
    result.error = "redis: unexpected reply to the presence script";
    return result;
  }
  result.members.reserve(reply.elements / 2);
  for (size_t i = 0; i + 1 < reply.elements; i += 2) {
    auto member = isText(reply.element[i + 1]) ? decodePresenceMember(text(reply.element[i + 1]))
                                               : std::nullopt;
    if (!member || member->client != text(reply.element[i])) {
      ++malformed;
      continue;
    }
    result.members.push_back(std::move(*member));
  }
  return result;
}

}  // namespace heimdallr::bus
