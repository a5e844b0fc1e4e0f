#include "server/UserSessions.h"

#include "net/Connection.h"
#include "net/Protocol.h"

namespace heimdallr::server {

UserSessions::UserSessions(std::vector<net::IoLoop*> loops, bus::Bus& bus, std::string nodeId)
    : loops_(std::move(loops)), bus_(bus), nodeId_(std::move(nodeId)), perLoop_(loops_.size()) {}

UserSessions::~UserSessions() { stop(); }

void UserSessions::start() {
  subscription_ = bus_.subscribe(std::string(kSubject), [this](const bus::BusMessagePtr& msg) {
    // Our own disconnects were carried out when they were asked for.
    if (msg->origin != nodeId_) disconnectHere(msg->payload);
  });
}

void UserSessions::stop() {
  if (subscription_ == 0) return;
  bus_.unsubscribe(subscription_);
  subscription_ = 0;
}

void UserSessions::add(int loop, const std::string& user, net::Connection* connection) {
  perLoop_[loop][user].insert(connection);
}

void UserSessions::remove(int loop, const std::string& user, net::Connection* connection) {
  auto& users = perLoop_[loop];
  const auto it = users.find(user);
  if (it == users.end()) return;
  it->second.erase(connection);
  if (it->second.empty()) users.erase(it);
}

void UserSessions::disconnect(const std::string& user) {
  disconnectHere(user);
  auto msg = std::make_shared<bus::BusMessage>();
  msg->subject = std::string(kSubject);
  msg->origin = nodeId_;
  msg->payload = user;
  bus_.publish(std::move(msg));
}

void UserSessions::disconnectHere(const std::string& user) {
  for (size_t i = 0; i < loops_.size(); ++i) {
    const int loop = static_cast<int>(i);
    loops_[i]->post([this, loop, user] { evictOnLoop(loop, user); });
  }
}

// Loop thread. The matches are copied first: a session leaves the map when it closes.
void UserSessions::evictOnLoop(int loop, const std::string& user) {
  const auto& users = perLoop_[loop];
  const auto it = users.find(user);
  if (it == users.end()) return;
  const std::vector<net::Connection*> found(it->second.begin(), it->second.end());
  for (net::Connection* connection : found) connection->protocol()->onEvicted(*connection);
}

}  // namespace heimdallr::server
