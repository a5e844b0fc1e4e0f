#pragma once

#include <Poco/Net/ServerSocket.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace heimdallr::net {

/// Accepts TCP connections on a few threads and hands each new socket (non-blocking) to
/// `onAccepted`, which passes it on to an IoLoop. Accepting is all these threads do, so a flood of
/// keep-alive clients never parks one. start()/stop() on the main thread; onAccepted runs on the
/// acceptor threads.
class Acceptor {
 public:
  using AcceptHandler = std::function<void(int fd, std::string peer)>;

  Acceptor(const std::string& host, uint16_t port, int threads, AcceptHandler onAccepted);
  ~Acceptor();

  /// Binds and listens; throws Poco::Exception when the address cannot be bound.
  void start();
  /// Stops accepting and joins the threads. Sockets already handed over are not touched.
  void stop();

  /// The bound port (the real one when 0 was asked for).
  uint16_t port() const;
  std::string host() const { return host_; }

 private:
  void acceptLoop();

  std::string host_;
  uint16_t requestedPort_;
  int threadCount_;
  AcceptHandler onAccepted_;
  Poco::Net::ServerSocket socket_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
};

}  // namespace heimdallr::net
