#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/Identity.h"
#include "heimdallr/bus/Storage.h"
#include "v2/Command.h"
#include "ws/MessageHandler.h"
#include "ws/TokenBucket.h"

namespace heimdallr::ws {
class WsSession;
}

namespace heimdallr::v2 {

/// The Sec-WebSocket-Protocol a v2 client offers on "/" and the server echoes.
inline constexpr std::string_view kSubprotocol = "heimdallr.v2";
/// A v2 frame may exceed limits.max_message_bytes by this much: the command around the data.
inline constexpr size_t kCommandOverheadBytes = 4096;
/// Store reads (joins, history, presence lists) one connection may wait for at once: their
/// answers can be large. Appends are bounded by the rate limit and the plugin's pending bytes.
inline constexpr size_t kMaxStoreRequests = 64;

/// Protocol v2 on one WebSocket session (docs/PROTOCOL.md): JSON commands, each answered once
/// by id; many rooms per connection, each a Membership (a RoomMember of its own); acknowledged
/// publishes; presence and history; recovery on join with `since`. Loop thread only. Replies to
/// asynchronous work (the store, presence) come back as tasks on this loop and find the handler
/// through a weak handle, so a session that closed meanwhile is simply not answered.
class V2Handler : public ws::MessageHandler {
 public:
  explicit V2Handler(ws::WsSession& session);
  ~V2Handler() override;

  // ws::MessageHandler
  void onMessage(ws::Opcode opcode, std::string&& payload) override;
  void onClosing() override;
  void onTick(uint64_t nowMs) override;

 private:
  class Membership;
  using Alive = std::shared_ptr<V2Handler*>;
  using Weak = std::weak_ptr<V2Handler*>;

  void handle(Command&& command);
  void onConnect(uint64_t id, ConnectCommand& command);
  void onJoin(uint64_t id, JoinCommand& command);
  void onLeave(uint64_t id, const LeaveCommand& command);
  void onPublish(uint64_t id, PublishCommand& command);
  void onPresence(uint64_t id, const PresenceCommand& command);
  void onHistory(uint64_t id, const HistoryCommand& command);
  void onRefresh(uint64_t id, const RefreshCommand& command);

  /// Verifies a token as the upgrade would; on failure replies and returns nullopt.
  std::optional<auth::Identity> verify(uint64_t id, const std::string& token);
  /// The room checks every room command makes: connected, and the token grants the room.
  bool mayEnter(uint64_t id, const std::string& room);
  /// Counts `requests` to the store this session waits for; past kMaxStoreRequests the command
  /// is answered 429 instead. Every answer from the store settles one (settle()).
  bool reserveStore(uint64_t id, size_t requests);
  static V2Handler* settle(const Weak& weak);
  void replyOk(uint64_t id, std::string_view okJson);
  void replyError(uint64_t id, ErrorCode code, std::string_view message);
  void send(std::string&& json);
  void leaveAll();

  ws::WsSession& session_;
  Alive alive_;
  std::optional<auth::Identity> identity_;  // the token's, with auth on
  bool connected_ = false;
  std::string clientId_;
  std::string user_;
  uint64_t connectDeadlineMs_;
  ws::TokenBucket rateLimit_;
  std::unordered_map<std::string, std::unique_ptr<Membership>> rooms_;
  uint64_t memberships_ = 0;  // joins so far: each Membership's serial
  size_t storeRequests_ = 0;  // store reads this session is waiting for
};

}  // namespace heimdallr::v2
