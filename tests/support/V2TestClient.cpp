#include "support/V2TestClient.h"

#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

namespace heimdallr::test {

namespace {
using Clock = std::chrono::steady_clock;
}

V2TestClient::V2TestClient(uint16_t port, const std::string& name, const std::string& token)
    : ws_(port) {
  const int status = ws_.handshake("/", {"Sec-WebSocket-Protocol: heimdallr.v2"});
  EXPECT_EQ(101, status) << ws_.responseHead();
  connected_ = call("connect", "{\"name\":\"" + name + "\"" +
                                   (token.empty() ? "" : ",\"token\":\"" + token + "\"") + "}");
  EXPECT_TRUE(connected_) << lastError_;
}

uint64_t V2TestClient::send(const std::string& command, const std::string& bodyJson) {
  const uint64_t id = nextId_++;
  ws_.sendText("{\"id\":" + std::to_string(id) + ",\"" + command + "\":" + bodyJson + "}");
  return id;
}

bool V2TestClient::pump(std::chrono::milliseconds timeout) {
  auto frame = ws_.receive(timeout);
  if (!frame) return false;
  if (frame->opcode != ws::Opcode::kText) return true;
  Json object = Poco::JSON::Parser().parse(frame->payload).extract<Json>();
  (object->has("id") ? replies_ : pushes_).push_back(object);
  return true;
}

V2TestClient::Json V2TestClient::reply(uint64_t id, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
      if ((*it)->getValue<uint64_t>("id") == id) {
        Json found = *it;
        replies_.erase(it);
        return found;
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !pump(left)) return nullptr;
  }
}

V2TestClient::Json V2TestClient::call(const std::string& command, const std::string& bodyJson) {
  Json answer = reply(send(command, bodyJson));
  lastError_.clear();
  if (!answer) {
    lastError_ = "no reply to " + command;
    return nullptr;
  }
  if (answer->has("error")) {
    Json error = answer->getObject("error");
    lastError_ = std::to_string(error->getValue<int>("code")) + " " +
                 error->getValue<std::string>("message");
    return nullptr;
  }
  return answer->getObject("ok");
}

V2TestClient::Json V2TestClient::push(const std::string& kind, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (auto it = pushes_.begin(); it != pushes_.end(); ++it) {
      if ((*it)->getValue<std::string>("push") == kind) {
        Json found = *it;
        pushes_.erase(it);
        return found;
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !pump(left)) return nullptr;
  }
}

std::vector<V2TestClient::Json> V2TestClient::messages(const std::string& room, size_t count,
                                                       std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<Json> out;
  for (;;) {
    for (auto it = pushes_.begin(); it != pushes_.end();) {
      if ((*it)->getValue<std::string>("push") == "message" &&
          (*it)->getValue<std::string>("room") == room) {
        out.push_back(*it);
        it = pushes_.erase(it);
      } else {
        ++it;
      }
    }
    if (out.size() >= count) return out;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !pump(left)) return out;
  }
}

}  // namespace heimdallr::test
