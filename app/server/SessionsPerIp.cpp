#include "server/SessionsPerIp.h"

namespace heimdallr::server {

bool SessionsPerIp::tryAcquire(const std::string& ip, size_t limit) {
  if (limit == 0) return true;
  std::lock_guard lock(mutex_);
  auto& count = counts_.try_emplace(ip, 0).first->second;  // limit >= 1: never left at 0
  if (count >= limit) return false;
  ++count;
  return true;
}

void SessionsPerIp::release(const std::string& ip, size_t limit) {
  if (limit == 0) return;
  std::lock_guard lock(mutex_);
  const auto it = counts_.find(ip);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

size_t SessionsPerIp::count(const std::string& ip) const {
  std::lock_guard lock(mutex_);
  const auto it = counts_.find(ip);
  return it == counts_.end() ? 0 : it->second;
}

std::string_view ipOfPeer(std::string_view peer) {
  if (peer.starts_with('[')) {
    const size_t close = peer.find(']');
    return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
  }
  const size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

}  // namespace heimdallr::server
