#pragma once

#include <Poco/JSON/Object.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "support/WsTestClient.h"

namespace heimdallr::test {

/// A protocol v2 client for the C++ cluster tests: upgrades on "/" with the subprotocol, sends
/// commands with increasing ids and sorts what comes back into replies (by id) and pushes (in
/// arrival order). Interop with clients that share no code with the server is tests/e2e's job;
/// this one drives many nodes from one test. Not thread-safe.
class V2TestClient {
 public:
  using Json = Poco::JSON::Object::Ptr;

  /// Connects and sends `connect` with `name` (and `token` when not empty); fails the test when
  /// refused.
  V2TestClient(uint16_t port, const std::string& name, const std::string& token = {});

  /// Sends `{"id":N,"<command>":<bodyJson>}`; returns N.
  uint64_t send(const std::string& command, const std::string& bodyJson);
  /// The reply to `id` (the whole object: "ok" or "error"), or null after `timeout`.
  Json reply(uint64_t id, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// send() then reply(); the "ok" object, or null (with the error in lastError()).
  Json call(const std::string& command, const std::string& bodyJson);
  const std::string& lastError() const { return lastError_; }

  /// The next push of kind `push` ("message", "join", ...), others of other kinds kept.
  Json push(const std::string& kind, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Waits until `count` message pushes arrived for `room` (or the timeout); returns them all,
  /// in arrival order, and forgets them.
  std::vector<Json> messages(const std::string& room, size_t count,
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));

  WsTestClient& ws() { return ws_; }
  const Json& connected() const { return connected_; }

 private:
  bool pump(std::chrono::milliseconds timeout);

  WsTestClient ws_;
  uint64_t nextId_ = 1;
  std::deque<Json> replies_;
  std::deque<Json> pushes_;
  Json connected_;
  std::string lastError_;
};

}  // namespace heimdallr::test
