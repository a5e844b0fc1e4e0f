#include "net/Acceptor.h"

#include <Poco/Net/SocketAddress.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace heimdallr::net {

namespace {
constexpr int kListenBacklog = 4096;  // capped by net.core.somaxconn

std::string peerName(const sockaddr_storage& addr, socklen_t len) {
  try {
    return Poco::Net::SocketAddress(reinterpret_cast<const sockaddr*>(&addr), len).toString();
  } catch (const Poco::Exception&) {
    return std::string(1, '?');  // an address family POCO does not know
  }
}
}  // namespace

Acceptor::Acceptor(const std::string& host, uint16_t port, int threads, AcceptHandler onAccepted)
    : host_(host),
      requestedPort_(port),
      threadCount_(threads),
      onAccepted_(std::move(onAccepted)) {}

Acceptor::~Acceptor() { stop(); }

void Acceptor::start() {
  // SO_REUSEADDR for quick restarts, but never SO_REUSEPORT: a second process must not be able
  // to share (and split) our port silently.
  socket_.bind(Poco::Net::SocketAddress(host_, requestedPort_), /*reuseAddress=*/true,
               /*reusePort=*/false);
  socket_.listen(kListenBacklog);
  for (int i = 0; i < threadCount_; ++i) threads_.emplace_back([this] { acceptLoop(); });
}

void Acceptor::stop() {
  if (stopping_.exchange(true)) return;
  // shutdown() wakes every thread blocked in accept() (they get EINVAL).
  if (socket_.impl()->initialized()) ::shutdown(socket_.impl()->sockfd(), SHUT_RDWR);
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (socket_.impl()->initialized()) socket_.close();
}

uint16_t Acceptor::port() const { return socket_.address().port(); }

// Acceptor thread: blocking accept, then hand off. Out of descriptors (EMFILE) is survived by
// pausing briefly instead of spinning; the backlog holds the waiting clients meanwhile.
void Acceptor::acceptLoop() {
  const int listenFd = socket_.impl()->sockfd();
  while (!stopping_.load()) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd =
        ::accept4(listenFd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_.load()) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;  // EINTR, ECONNABORTED, EPROTO: try the next one
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    onAccepted_(fd, peerName(addr, len));
  }
}

}  // namespace heimdallr::net
