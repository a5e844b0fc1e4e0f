#pragma once

#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include <cstdint>

namespace heimdallr::test {

/// A loopback TCP port that was free a moment ago (bound to port 0, then released), for servers
/// that cannot be told to pick their own, such as redis-server and haproxy.
inline uint16_t freeLoopbackPort() {
  Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
  const uint16_t port = probe.address().port();
  probe.close();
  return port;
}

}  // namespace heimdallr::test
