#include "v2/V2Handler.h"

#include <Poco/JSONString.h>

#include <algorithm>
#include <chrono>

#include "history/OffsetMerger.h"
#include "history/RecoveryPlan.h"
#include "room/PresenceTicket.h"
#include "room/RoomFrames.h"
#include "room/RoomMember.h"
#include "v2/CommandParser.h"
#include "ws/CloseCode.h"
#include "ws/FrameEncoder.h"
#include "ws/WsSession.h"

namespace heimdallr::v2 {

namespace {
std::string quoted(const std::string& text) { return Poco::toJSON(text, Poco::JSON_WRAP_STRINGS); }

const char* tokenProblem(auth::TokenStatus status) {
  switch (status) {
    case auth::TokenStatus::kMissing:
      return "token required";
    case auth::TokenStatus::kExpired:
      return "token expired";
    case auth::TokenStatus::kNotYetValid:
      return "token not yet valid";
    default:
      return "invalid token";
  }
}

// The TTL of a stream's epoch that a read creates (a room nobody published in yet): the
// messages' TTL, not the longer meta TTL, so that reading rooms at random costs the store little.
// The first append extends it.
uint32_t readTtlOf(const config::RoomPolicy& policy) {
  return static_cast<uint32_t>(policy.historyTtl.count());
}
}  // namespace

/// One joined room: a RoomMember in v2 format. In a room with history it sees the room's pushes
/// in offset order: live pushes that arrive while its join reads the store are held, then those
/// after the store's top follow the join reply (OffsetMerger). Loop thread only.
class V2Handler::Membership : public room::RoomMember {
 public:
  Membership(V2Handler& owner, std::string roomId, const config::RoomPolicy& policy,
             bool mayPublish)
      : owner_(owner),
        serial_(++owner.memberships_),
        roomId_(std::move(roomId)),
        policy_(policy),
        mayPublish_(mayPublish),
        order_(policy.keepsHistory() ? std::make_unique<Order>(0, true) : nullptr) {}

  const std::string& roomId() const override { return roomId_; }
  int loopIndex() const override { return owner_.session_.connection().loop().index(); }
  room::MemberFormat format() const override { return room::MemberFormat::kV2; }

  bool deliver(const room::RoomMessage& msg) override {
    if (!msg.v2Frame) return false;
    const bus::BusMessage& bus = *msg.bus;
    if (!order_ || bus.offset == 0) return owner_.session_.deliver(msg.v2Frame);
    if (!epoch_.empty() && bus.epoch != epoch_) {
      // The stream started again: what the client had is gone; it learns the new epoch first.
      epoch_ = bus.epoch;
      *order_ = Order(bus.offset - 1, false);
      owner_.send("{\"push\":\"epoch\",\"room\":" + quoted(roomId_) + ",\"epoch\":" +
                  quoted(epoch_) + ",\"offset\":" + std::to_string(bus.offset - 1) + "}");
    }
    switch (order_->admit(bus.offset, msg.v2Frame)) {
      case Order::Verdict::kDeliver:
        return owner_.session_.deliver(msg.v2Frame);
      case Order::Verdict::kGap:
        readGap();
        return false;
      case Order::Verdict::kHeld:
        // Held behind a hole whose read failed: ask again (a pending join reads on its own).
        if (!joinId_) readGap();
        return false;
      default:
        return false;
    }
  }

  /// The join's read of the store arrived: answer the join, then release what was held.
  void onJoinRead(const std::optional<history::StreamPosition>& since, bus::StreamRead read) {
    if (!read.error.empty()) {
      joinFailed(ErrorCode::kUnavailable, "history unavailable: " + read.error);
      return;
    }
    epoch_ = read.epoch;
    const history::StreamState state{read.epoch, read.top, read.oldest};
    const history::RecoveryPlan plan = history::planRecovery(state, since, policy_.joinMessages);
    joinMessages_ = "[";
    for (const bus::BusMessagePtr& msg : read.messages) {
      if (msg->offset < plan.first || msg->offset > plan.last) continue;
      if (joinMessages_.size() > 1) joinMessages_ += ',';
      room::appendMessageJson(joinMessages_, roomId_, *msg, false);
    }
    joinMessages_ += ']';
    recovered_ = plan.recovered;
    if (since) {
      if (metrics::LoopMetrics* m = owner_.session_.metrics()) {
        m->recovery(plan.recovered ? metrics::Recovery::kRecovered
                                   : metrics::Recovery::kNotRecovered);
      }
    }
    top_ = read.top;
    order_->skipTo(read.top);
    readDone_ = true;
    maybeAnswerJoin();
  }

  void onJoinPresence(bus::PresenceList list) {
    if (!list.error.empty()) {
      joinFailed(ErrorCode::kUnavailable, "presence unavailable: " + list.error);
      return;
    }
    members_ = "[";
    for (const bus::PresenceMember& member : list.members) {
      if (members_.size() > 1) members_ += ',';
      room::appendMemberJson(members_, member);
    }
    members_ += ']';
    presenceDone_ = true;
    maybeAnswerJoin();
  }

  /// Starts the join: the hub registers the member and, for history, reads the store.
  void start(uint64_t joinId, const std::optional<history::StreamPosition>& since) {
    joinId_ = joinId;
    room::RoomHub& hub = owner_.session_.context().hub;
    if (order_) {
      bus::ReadRequest request;
      request.metaTtlS = readTtlOf(policy_);
      if (since) {
        request.after = since->offset;
        request.limit = policy_.historySize;
      } else {
        request.limit = std::min(policy_.joinMessages, policy_.historySize);
        request.newest = true;
      }
      hub.join(*this, &request,
               [weak = Weak(owner_.alive_), room = roomId_, serial = serial_,
                since](bus::StreamRead read) {
                 settle(weak);
                 if (Membership* self = find(weak, room, serial))
                   self->onJoinRead(since, std::move(read));
               });
    } else {
      hub.join(*this);
      readDone_ = true;
    }
    joined_ = true;
    if (policy_.presence) {
      ws::WsSession& session = owner_.session_;
      const auth::SessionIdentity* identity = session.identity();
      presence_ = std::make_unique<room::PresenceTicket>(
          hub, roomId_, loopIndex(),
          bus::PresenceMember{owner_.clientId_, owner_.user_,
                              identity ? identity->infoJson : std::string(),
                              session.context().nodeId},
          policy_, session.connection().loop().nowMs());
      hub.presence(
          roomId_, loopIndex(),
          [weak = Weak(owner_.alive_), room = roomId_, serial = serial_](bus::PresenceList list) {
            settle(weak);
            if (Membership* self = find(weak, room, serial)) self->onJoinPresence(std::move(list));
          });
    } else {
      presenceDone_ = true;
    }
    maybeAnswerJoin();
  }

  /// Leaves the room; a join still pending is answered with an error first.
  void stop() {
    if (joinId_) {
      owner_.replyError(*joinId_, ErrorCode::kNotJoined, "join: left before the join completed");
      joinId_.reset();
    }
    presence_.reset();
    if (joined_) owner_.session_.context().hub.leave(*this);
    joined_ = false;
  }

  void onTick(uint64_t nowMs) {
    if (presence_) presence_->onTick(nowMs);
  }

  bool mayPublish() const { return mayPublish_; }
  void setMayPublish(bool mayPublish) { mayPublish_ = mayPublish; }
  const config::RoomPolicy& policy() const { return policy_; }

 private:
  using Order = history::OffsetMerger<net::SharedBuffer>;

  /// The membership a callback was made for: the same room and the same join (a room left and
  /// joined again is another membership, which must not take the old one's answers).
  static Membership* find(const Weak& weak, const std::string& room, uint64_t serial) {
    Alive alive = weak.lock();
    if (!alive) return nullptr;
    auto it = (*alive)->rooms_.find(room);
    if (it == (*alive)->rooms_.end() || it->second->serial_ != serial) return nullptr;
    return it->second.get();
  }

  void joinFailed(ErrorCode code, const std::string& message) {
    if (!joinId_) return;
    const uint64_t id = *joinId_;
    joinId_.reset();
    V2Handler& owner = owner_;
    const std::string room = roomId_;
    owner.replyError(id, code, message);
    stop();
    owner.rooms_.erase(room);  // destroys this
  }

  void maybeAnswerJoin() {
    if (!joinId_ || !readDone_ || !presenceDone_) return;
    std::string ok = "{\"room\":" + quoted(roomId_);
    if (order_) {
      ok += ",\"offset\":" + std::to_string(top_) + ",\"epoch\":" + quoted(epoch_) +
            ",\"recovered\":" + (recovered_ ? "true" : "false") + ",\"messages\":" + joinMessages_;
    }
    if (policy_.presence) ok += ",\"members\":" + members_;
    ok += '}';
    const uint64_t id = *joinId_;
    joinId_.reset();
    joinMessages_.clear();
    members_.clear();
    owner_.replyOk(id, ok);
    if (order_) release(std::vector<std::pair<uint64_t, net::SharedBuffer>>{}, top_);
  }

  /// Hands `stored` (this member's frames of a read) and the held pushes to the client in order.
  void release(std::vector<std::pair<uint64_t, net::SharedBuffer>> stored, uint64_t top) {
    uint64_t lost = 0;
    bool readAgain = false;
    for (const net::SharedBuffer& frame :
         order_->catchUp(std::move(stored), top, lost, readAgain)) {
      if (!owner_.session_.deliver(frame)) return;
    }
    if (readAgain) readGap();
  }

  /// Pushes went missing (the node's own view fills holes, so this is rare): read them.
  void readGap() {
    if (gapReading_) return;
    gapReading_ = true;
    bus::ReadRequest request;
    request.after = order_->last();
    request.limit = policy_.historySize;
    request.metaTtlS = readTtlOf(policy_);
    owner_.session_.context().hub.read(
        roomId_, loopIndex(), request,
        [weak = Weak(owner_.alive_), room = roomId_, serial = serial_](bus::StreamRead read) {
          Membership* self = find(weak, room, serial);
          if (!self) return;
          self->gapReading_ = false;
          if (!read.error.empty()) return;  // the next push asks again
          std::vector<std::pair<uint64_t, net::SharedBuffer>> stored;
          for (const bus::BusMessagePtr& msg : read.messages) {
            stored.emplace_back(msg->offset, room::v2FrameOf(room, *msg));
          }
          self->release(std::move(stored), read.top);
        });
  }

  V2Handler& owner_;
  const uint64_t serial_;  // which join of this room on this session
  const std::string roomId_;
  const config::RoomPolicy& policy_;
  bool mayPublish_;
  std::unique_ptr<Order> order_;  // rooms with history
  std::string epoch_;
  std::unique_ptr<room::PresenceTicket> presence_;
  bool joined_ = false;
  bool gapReading_ = false;
  // The join being answered: both halves must be in.
  std::optional<uint64_t> joinId_;
  bool readDone_ = false;
  bool presenceDone_ = false;
  bool recovered_ = false;
  uint64_t top_ = 0;
  std::string joinMessages_;
  std::string members_;
};

V2Handler::V2Handler(ws::WsSession& session)
    : session_(session),
      alive_(std::make_shared<V2Handler*>(this)),
      connectDeadlineMs_(
          session.connection().loop().nowMs() +
          static_cast<uint64_t>(session.context().config.limits.handshakeTimeout.count())),
      rateLimit_(session.context().config.limits.messagesPerSecond,
                 session.context().config.limits.burst, session.connection().loop().nowMs()) {}

V2Handler::~V2Handler() { leaveAll(); }

void V2Handler::leaveAll() {
  for (auto& [room, membership] : rooms_) membership->stop();
  rooms_.clear();
}

// End of a loop iteration, outside any fan-out: safe to leave the rooms.
void V2Handler::onClosing() {
  alive_.reset();  // nothing more is answered
  leaveAll();
}

void V2Handler::onTick(uint64_t nowMs) {
  if (!connected_ && nowMs >= connectDeadlineMs_) {
    session_.closeWith(ws::close_code::kConnectTimeout, "connect expected first");
    return;
  }
  for (auto& [room, membership] : rooms_) membership->onTick(nowMs);
}

void V2Handler::onMessage(ws::Opcode opcode, std::string&& payload) {
  if (opcode != ws::Opcode::kText) {
    session_.closeWith(ws::close_code::kUnsupportedData, "protocol v2 takes JSON text frames");
    return;
  }
  auto parsed = parseCommand(payload);
  if (auto* error = std::get_if<CommandError>(&parsed)) {
    if (!error->id) {
      session_.closeWith(ws::close_code::kInvalidPayload, "not a command: " + error->message);
      return;
    }
    replyError(*error->id, error->code, error->message);
    return;
  }
  Command& command = std::get<Command>(parsed);
  net::Connection& connection = session_.connection();
  const uint64_t nowMs = connection.loop().nowMs();
  if (!rateLimit_.tryTake(nowMs)) {
    // Answered, and reading pauses until a tenth of a second's tokens are back: a flood costs
    // the loop one short reply per command, then nothing.
    replyError(command.id, ErrorCode::kRateLimited,
               "rate limit exceeded (limits.messages_per_second)");
    if (metrics::LoopMetrics* m = session_.metrics()) m->dropped(metrics::DropReason::kRateLimited);
    const uint64_t tenth =
        std::max<uint64_t>(1, session_.context().config.limits.messagesPerSecond / 10);
    connection.pauseReading(rateLimit_.msUntil(tenth, nowMs));
    return;
  }
  handle(std::move(command));
}

void V2Handler::handle(Command&& command) {
  const uint64_t id = command.id;
  std::visit(
      [&](auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, ConnectCommand>) {
          onConnect(id, body);
        } else if (!connected_) {
          replyError(id, ErrorCode::kUnauthorized, "connect first");
        } else if constexpr (std::is_same_v<T, JoinCommand>) {
          onJoin(id, body);
        } else if constexpr (std::is_same_v<T, LeaveCommand>) {
          onLeave(id, body);
        } else if constexpr (std::is_same_v<T, PublishCommand>) {
          onPublish(id, body);
        } else if constexpr (std::is_same_v<T, PresenceCommand>) {
          onPresence(id, body);
        } else if constexpr (std::is_same_v<T, HistoryCommand>) {
          onHistory(id, body);
        } else if constexpr (std::is_same_v<T, RefreshCommand>) {
          onRefresh(id, body);
        }
      },
      command.body);
}

std::optional<auth::Identity> V2Handler::verify(uint64_t id, const std::string& token) {
  const auto credentials = session_.context().credentials.current();
  const int64_t nowSeconds = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  auth::TokenResult result = credentials->verifier->verify(token, nowSeconds);
  if (result.status != auth::TokenStatus::kValid) {
    replyError(id, ErrorCode::kUnauthorized, tokenProblem(result.status));
    return std::nullopt;
  }
  return std::move(result.identity);
}

void V2Handler::onConnect(uint64_t id, ConnectCommand& command) {
  if (connected_) {
    replyError(id, ErrorCode::kBadRequest, "connect: already connected");
    return;
  }
  if (session_.context().credentials.current()->verifier) {
    std::optional<auth::Identity> identity = verify(id, command.token);
    if (!identity) return;
    session_.adoptIdentity(*identity);
    user_ = identity->user;
    identity_ = std::move(identity);
  } else {
    user_ = std::move(command.name);
  }
  connected_ = true;
  clientId_ = session_.clientId();
  std::string ok = "{\"client\":" + quoted(clientId_) + ",\"user\":" + quoted(user_) +
                   ",\"node\":" + quoted(session_.context().nodeId);
  const int64_t expiresInMs = session_.expiresInMs();
  if (expiresInMs >= 0) ok += ",\"expires_in\":" + std::to_string(expiresInMs / 1000);
  ok += '}';
  replyOk(id, ok);
}

bool V2Handler::mayEnter(uint64_t id, const std::string& room) {
  if (identity_ && !identity_->rooms.matches(room)) {
    replyError(id, ErrorCode::kForbidden, "the token does not grant room " + room);
    return false;
  }
  return true;
}

void V2Handler::onJoin(uint64_t id, JoinCommand& command) {
  if (!mayEnter(id, command.room)) return;
  if (rooms_.count(command.room)) {
    replyError(id, ErrorCode::kNotJoined, "join: already in room " + command.room);
    return;
  }
  const config::Config& config = session_.context().config;
  if (rooms_.size() >= config.limits.maxRoomsPerConnection) {
    replyError(id, ErrorCode::kBadRequest,
               "join: " + std::to_string(config.limits.maxRoomsPerConnection) +
                   " rooms on one connection at most (limits.max_rooms_per_connection)");
    return;
  }
  const config::RoomPolicy& policy = session_.context().hub.policyFor(command.room);
  if (!reserveStore(id, (policy.keepsHistory() ? 1 : 0) + (policy.presence ? 1 : 0))) return;
  const bool mayPublish = !identity_ || identity_->publish.matches(command.room);
  auto& slot = rooms_[command.room];
  slot = std::make_unique<Membership>(*this, command.room, policy, mayPublish);
  slot->start(id, command.since);
}

void V2Handler::onLeave(uint64_t id, const LeaveCommand& command) {
  auto it = rooms_.find(command.room);
  if (it == rooms_.end()) {
    replyError(id, ErrorCode::kNotJoined, "leave: not in room " + command.room);
    return;
  }
  it->second->stop();
  rooms_.erase(it);
  replyOk(id, "{}");
}

void V2Handler::onPublish(uint64_t id, PublishCommand& command) {
  auto it = rooms_.find(command.room);
  if (it == rooms_.end()) {
    replyError(id, ErrorCode::kNotJoined, "publish: not in room " + command.room);
    return;
  }
  Membership& membership = *it->second;
  metrics::LoopMetrics* loopMetrics = session_.metrics();
  if (!membership.mayPublish()) {
    if (loopMetrics) loopMetrics->dropped(metrics::DropReason::kForbidden);
    replyError(id, ErrorCode::kForbidden,
               "publish: the token's pub does not grant room " + command.room);
    return;
  }
  const config::Config& config = session_.context().config;
  if (command.dataJson.size() > config.limits.maxMessageBytes) {
    replyError(id, ErrorCode::kTooLarge,
               "publish.data: " + std::to_string(command.dataJson.size()) +
                   " bytes, more than limits.max_message_bytes (" +
                   std::to_string(config.limits.maxMessageBytes) + ")");
    return;
  }
  room::RoomHub& hub = session_.context().hub;
  if (!membership.policy().keepsHistory() && !hub.busUp()) {
    replyError(id, ErrorCode::kUnavailable, "publish: the bus is down; nothing was published");
    return;
  }
  bus::BusMessage msg;
  msg.payload = std::move(command.dataJson);
  msg.flags = bus::BusMessage::kFlagJson;
  msg.senderClient = clientId_;
  msg.senderUser = user_;
  hub.publish(
      command.room, session_.connection().loop().index(), std::move(msg),
      metrics::PublishSource::kClient,
      [weak = Weak(alive_), id](bus::AppendResult result) {
        Alive alive = weak.lock();
        if (!alive) return;
        V2Handler& self = **alive;
        if (!result.error.empty()) {
          // Not confirmed: with the store gone before it was sent nothing was published; with
          // no answer in time it may still have been stored (and is then delivered).
          self.replyError(id, ErrorCode::kUnavailable,
                          "publish: not confirmed by the store: " + result.error);
        } else if (result.offset == 0) {
          self.replyOk(id, "{}");
        } else {
          self.replyOk(id, "{\"offset\":" + std::to_string(result.offset) + "}");
        }
      },
      &membership.policy());
}

void V2Handler::onPresence(uint64_t id, const PresenceCommand& command) {
  if (!mayEnter(id, command.room)) return;
  room::RoomHub& hub = session_.context().hub;
  if (!hub.policyFor(command.room).presence) {
    replyError(id, ErrorCode::kBadRequest,
               "presence: room " + command.room + " keeps no presence (presence.enabled)");
    return;
  }
  if (!reserveStore(id, 1)) return;
  hub.presence(command.room, session_.connection().loop().index(),
               [weak = Weak(alive_), id](bus::PresenceList list) {
                 V2Handler* handler = settle(weak);
                 if (!handler) return;
                 if (!list.error.empty()) {
                   handler->replyError(id, ErrorCode::kUnavailable,
                                       "presence unavailable: " + list.error);
                   return;
                 }
                 std::string ok = "{\"members\":[";
                 for (size_t i = 0; i < list.members.size(); ++i) {
                   if (i > 0) ok += ',';
                   room::appendMemberJson(ok, list.members[i]);
                 }
                 ok += "]}";
                 handler->replyOk(id, ok);
               });
}

void V2Handler::onHistory(uint64_t id, const HistoryCommand& command) {
  if (!mayEnter(id, command.room)) return;
  room::RoomHub& hub = session_.context().hub;
  const config::RoomPolicy& policy = hub.policyFor(command.room);
  if (!policy.keepsHistory()) {
    replyError(id, ErrorCode::kBadRequest,
               "history: room " + command.room + " keeps no history (history.size)");
    return;
  }
  bus::ReadRequest request;
  request.metaTtlS = readTtlOf(policy);
  request.limit =
      std::min<uint64_t>(command.limit.value_or(policy.historySize), policy.historySize);
  if (command.since) {
    request.after = command.since->offset;
  } else {
    request.newest = true;
  }
  // Messages after `since` only mean something in its epoch: another epoch gets none.
  const std::optional<std::string> epoch =
      command.since ? std::optional<std::string>(command.since->epoch) : std::nullopt;
  if (!reserveStore(id, 1)) return;
  hub.read(
      command.room, session_.connection().loop().index(), request,
      [weak = Weak(alive_), id, room = command.room, epoch](bus::StreamRead read) {
        V2Handler* handler = settle(weak);
        if (!handler) return;
        if (!read.error.empty()) {
          handler->replyError(id, ErrorCode::kUnavailable, "history unavailable: " + read.error);
          return;
        }
        std::string ok = "{\"messages\":[";
        bool first = true;
        if (!epoch || *epoch == read.epoch) {
          for (const bus::BusMessagePtr& msg : read.messages) {
            if (!first) ok += ',';
            first = false;
            room::appendMessageJson(ok, room, *msg, false);
          }
        }
        ok += "],\"offset\":" + std::to_string(read.top) + ",\"epoch\":" + quoted(read.epoch) + "}";
        handler->replyOk(id, ok);
      });
}

void V2Handler::onRefresh(uint64_t id, const RefreshCommand& command) {
  if (!session_.context().credentials.current()->verifier) {
    replyError(id, ErrorCode::kBadRequest, "refresh: auth is off (auth.enabled)");
    return;
  }
  std::optional<auth::Identity> identity = verify(id, command.token);
  if (!identity) return;
  if (identity->user != user_) {
    replyError(id, ErrorCode::kForbidden, "refresh: the token is for another user");
    return;
  }
  // The new token must still grant every room this session is in; its `pub` takes effect.
  for (const auto& [room, membership] : rooms_) {
    if (!identity->rooms.matches(room)) {
      replyError(id, ErrorCode::kForbidden,
                 "refresh: the token does not grant room " + room + "; leave it first");
      return;
    }
  }
  for (auto& [room, membership] : rooms_)
    membership->setMayPublish(identity->publish.matches(room));
  session_.adoptIdentity(*identity);
  identity_ = std::move(identity);
  const int64_t expiresInMs = session_.expiresInMs();
  replyOk(id, expiresInMs >= 0 ? "{\"expires_in\":" + std::to_string(expiresInMs / 1000) + "}"
                               : std::string("{}"));
}

bool V2Handler::reserveStore(uint64_t id, size_t requests) {
  if (storeRequests_ + requests > kMaxStoreRequests) {
    replyError(id, ErrorCode::kRateLimited,
               std::to_string(kMaxStoreRequests) +
                   " requests to the store are already waiting on this connection");
    return false;
  }
  storeRequests_ += requests;
  return true;
}

V2Handler* V2Handler::settle(const Weak& weak) {
  Alive alive = weak.lock();
  if (!alive) return nullptr;
  --(*alive)->storeRequests_;
  return *alive;
}

void V2Handler::replyOk(uint64_t id, std::string_view okJson) {
  std::string json = "{\"id\":" + std::to_string(id) + ",\"ok\":";
  json += okJson;
  json += '}';
  send(std::move(json));
}

void V2Handler::replyError(uint64_t id, ErrorCode code, std::string_view message) {
  send("{\"id\":" + std::to_string(id) +
       ",\"error\":{\"code\":" + std::to_string(static_cast<int>(code)) +
       ",\"message\":" + quoted(std::string(message)) + "}}");
}

void V2Handler::send(std::string&& json) {
  session_.deliverReply(net::makeSharedBuffer(ws::encodeFrame(ws::Opcode::kText, json)));
}

}  // namespace heimdallr::v2
